// The Telegram Bot API stand-in (tests/support/telegram_standin.py) as a test's child process,
// its test CA for HTTPS, and what the duty program (tests/support/telegram_duty.py) needs to
// find it. Where it runs — a test host's namespace or a loopback address — is the caller's:
// it passes how to start a process there and how to connect to it.
#pragma once

#include "support/poll_log.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace montana::testing {

/// The stand-in's and the duty's files in the source tree, and the interpreter that runs them.
inline const std::string standin_script = MONTANA_SOURCE_DIR "/tests/support/telegram_standin.py";
inline const std::string duty_script = MONTANA_SOURCE_DIR "/tests/support/telegram_duty.py";
inline const std::string python = "/usr/bin/python3";

/// A CA and a server certificate it signed for `address` (and DNS name api.telegram.test),
/// made with the openssl tool in `dir`: ca.crt, server.crt, server.key. Throws
/// std::runtime_error naming the failed step.
void make_test_ca(const std::string& dir, const std::string& address);

/// Starts a process where the stand-in lives: argv, output file; pid, or -1 with the problem.
using spawn_there =
    std::function<pid_t(const std::vector<std::string>&, const std::string&, std::string&)>;
/// Connects to address:port from where the stand-in lives; fd, or -1 with the problem.
using connect_there = std::function<int(const std::string&, uint16_t, std::string&)>;

class telegram_standin {
public:
  struct options {
    /// Its log, output and certificates go here.
    std::string dir;
    /// The address bots reach it on; the control port listens there too.
    std::string address;
    uint16_t http_port = 8081;
    /// 0: no HTTPS listener; else one with a certificate from a test CA (ca_file()).
    uint16_t https_port = 0;
    uint16_t control_port = 8099;
    std::string token = "123456:montana-chaos-test-token";
  };

  /// Starts it and waits until it answers; throws std::runtime_error when it does not.
  telegram_standin(options opts, spawn_there spawn, connect_there connect);
  /// SIGKILLs and reaps it.
  ~telegram_standin();
  telegram_standin(const telegram_standin&) = delete;
  telegram_standin& operator=(const telegram_standin&) = delete;

  /// Base URL for bots: http://ADDRESS:PORT, or https:// when `tls`.
  std::string api_url(bool tls = false) const;
  const std::string& token() const { return opts_.token; }
  /// The CA file that signs the HTTPS certificate (empty without HTTPS).
  std::string ca_file() const;
  std::string log_file() const { return opts_.dir + "/telegram.log"; }

  /// A user's message `text` from chat `chat_id`; returns its update id (-1 when refused).
  int64_t user_says(const std::string& text, int64_t chat_id = 4242) const;

  /// The texts the bot sent (sendMessage answered 200), in order.
  std::vector<std::string> replies() const;

  /// The log's getUpdates so far; `host_of` names addresses.
  std::vector<poll_record>
  polls(const std::function<std::string(const std::string&)>& host_of = {}) const;

private:
  options opts_;
  connect_there connect_;
  pid_t pid_ = -1;
};

} // namespace montana::testing
