#include "runtime/demo.hpp"

#include "runtime/identity.hpp"
#include "runtime/node.hpp"
#include "runtime/private_dir.hpp"
#include "runtime/registry.hpp"
#include "runtime/trust.hpp"

#include <filesystem>
#include <stdexcept>

#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

namespace montana {

config demo_config(uint16_t port, bool fast) {
  auto cfg = parse_config(default_config_text(), "<default>");
  int i = 1;
  for (auto& n : cfg.nodes) {
    n.host = "127.0.0." + std::to_string(i++);
    n.port = port;
  }
  duty_settings demo;
  demo.name = "demo";
  for (const auto& n : cfg.nodes)
    demo.chain.push_back(n.name);
  demo.command = {"/bin/sh", "-c",
                  "while :; do echo \"polling as $MONTANA_NODE_NAME, term $MONTANA_TERM\";"
                  " sleep 2; done"};
  demo.startup_delay = duration{1000};
  demo.stop_grace = duration{3000};
  cfg.duties = {demo};
  // Five nodes on one host cannot share the default's status address.
  cfg.status = {};
  if (fast)
    apply_fast_profile(cfg);
  return cfg;
}

namespace {

const char* help_text =
    "commands: status | kill NODE (crash) | stop NODE (graceful) | start NODE | help | quit\n";

void print_status(std::vector<std::unique_ptr<node>>& nodes, std::ostream& out) {
  for (auto& n : nodes) {
    out << "  " << n->name() << ": ";
    if (!n->running()) {
      out << "down\n";
      continue;
    }
    caf::scoped_actor self{n->system()};
    for (const auto& [duty, leader] : n->leaders()) {
      self->request(leader, std::chrono::seconds{1}, status_atom::value)
          .receive(
              [&](const duty_status& x) {
                out << duty << " " << to_string(x.role) << " (term " << x.term << ") ";
              },
              [&](const caf::error& err) {
                out << duty << " ? (" << n->system().render(err) << ") ";
              });
    }
    out << "\n";
  }
}

node* find(std::vector<std::unique_ptr<node>>& nodes, const std::string& name) {
  for (auto& n : nodes)
    if (n->name() == name)
      return n.get();
  return nullptr;
}

} // namespace

int run_demo(config cfg, std::istream& in, std::ostream& out) {
  // Fresh identities for the five nodes, gone with the demo.
  private_dir scratch{"demo"};
  const auto& dir = scratch.path();
  create_cluster_identities(cfg, dir);
  cfg.state.dir = dir + "/state/{node}";
  cfg.shell.socket = dir + "/{node}.sock";
  // The configuration as a file, for the shell from another terminal.
  auto config_file = dir + "/demo.toml";
  write_file_atomically(config_file, config_text(cfg), 0644, true);
  std::vector<std::unique_ptr<node>> nodes;
  for (const auto& entry : cfg.nodes) {
    nodes.push_back(std::make_unique<node>(cfg, entry.name));
    nodes.back()->start();
  }
  out << "five nodes up; the duty moves to the first live node of the chain.\n"
      << "shell (another terminal): montana-actors shell --config " << config_file
      << " --node amsterdam\n"
      << help_text;
  std::string line;
  while (out << "demo> " << std::flush, std::getline(in, line)) {
    std::istringstream words{line};
    std::string cmd;
    std::string arg;
    words >> cmd >> arg;
    if (cmd.empty())
      continue;
    if (cmd == "quit" || cmd == "exit")
      break;
    if (cmd == "status") {
      print_status(nodes, out);
    } else if ((cmd == "kill" || cmd == "stop" || cmd == "start") && !arg.empty()) {
      auto n = find(nodes, arg);
      if (n == nullptr) {
        out << "unknown node '" << arg << "' (known: " << cfg.node_names() << ")\n";
      } else if (cmd == "kill") {
        n->stop();
      } else if (cmd == "stop") {
        n->leave();
      } else {
        try {
          n->start();
        } catch (const std::exception& e) {
          out << e.what() << "\n";
        }
      }
    } else {
      out << help_text;
    }
  }
  out << "stopping\n";
  for (auto& n : nodes)
    n->leave();
  return 0;
}

} // namespace montana
