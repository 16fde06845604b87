# The Debian package montana-actors_<version>-1_<arch>.deb, built by `cpack -G DEB` in the
# build directory (deploy/package.sh builds the binary first). Paths are the installed ones.

install(TARGETS montana-actors RUNTIME DESTINATION usr/bin)
# Where runtime/git_transfer looks for it when it is not next to montana-actors.
install(TARGETS montana-git-transfer RUNTIME DESTINATION usr/lib/montana-actors)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/montana-actors.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/montana.toml DESTINATION etc/montana)
# The template postinst copies to /etc/montana/montana.env once (not under /usr/share/doc,
# which installations may leave out).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/montana.env.example
        DESTINATION usr/share/montana-actors)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION usr/share/doc/montana-actors)
file(GLOB package_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${package_docs} DESTINATION usr/share/doc/montana-actors)
# The alert rules and the dashboard, for the monitoring host (docs/operations.md, "Monitoring").
install(FILES ${PROJECT_SOURCE_DIR}/deploy/monitoring/montana-alerts.yml
              ${PROJECT_SOURCE_DIR}/deploy/monitoring/montana-dashboard.json
        DESTINATION usr/share/montana-actors/monitoring)

# cpack installs what is built and builds nothing itself (deploy/package.sh builds first).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

# montana.toml is a conffile: dpkg keeps an admin's edits on upgrade and asks before replacing.
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "/etc/montana/montana.toml\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME montana-actors)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "keeps one duty process running on the first live node of a chain")
# The summary above is the first line; CPack indents these.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "montana-actors keeps a Telegram bot's polling process running on exactly one of five hosts:
the first live node of the chain amsterdam > moscow > almaty > spb > novosibirsk. The nodes talk
TLS 1.3 and prove pinned Ed25519 identities. This package holds the service, its systemd unit
and its documentation.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "montana operators <ops@montana.network>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries' packages from dpkg-shlibdeps; postinst needs adduser, the unit's
# ExecReload /bin/kill (procps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/preinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
