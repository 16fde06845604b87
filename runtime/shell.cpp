#include "runtime/shell.hpp"

#include "actors/introspection.hpp"
#include "messages/status_json.hpp"
#include "runtime/config.hpp"
#include "runtime/shell_client.hpp"
#include "runtime/shell_render.hpp"

#include <editline/readline.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace montana {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// The installed configuration, which the shell reads when not told otherwise.
constexpr const char* installed_config = "/etc/montana/montana.toml";

/// Questions answered from memory; `cluster` waits for the other nodes (up to 4 s each, at once).
constexpr std::chrono::seconds query_timeout{10};
/// A step-down waits for the next node's claim and the duty's stop.
constexpr std::chrono::seconds action_timeout{75};
constexpr std::chrono::minutes breathe_timeout{6};

struct command_info {
  const char* name;
  const char* args;
  const char* what;
};

const std::vector<command_info> commands{
    {"status", "", "this node: duties, roles, terms, peers, breathing"},
    {"cluster", "", "every node's view side by side; ! marks disagreement"},
    {"chain", "[DUTY]", "the chain in order: roles and this node's verdicts"},
    {"probes", "[PEER]", "peers' verdicts and recent rounds; one in detail"},
    {"actors", "", "every actor of this node with its counters"},
    {"actor", "NAME|ID", "one actor's state and counters"},
    {"breath", "", "the recent breaths of the shared repository"},
    {"duty", "[restart [DUTY]]", "the process: pid, uptime, output; restart it"},
    {"log", "[-f] [N]", "last N (20) lines of this node's log; -f follows"},
    {"watch", "[SECONDS]", "live events: roles, verdicts, links, breaths"},
    {"step-down", "[DUTY]", "hand the duty to the next node and stay out"},
    {"resume", "[DUTY]", "take part in the chain again after step-down"},
    {"breathe", "", "breathe now and show the breath"},
    {"help", "", "this list"},
};

std::atomic<bool> interrupted{false};

void on_interrupt(int) {
  interrupted = true;
}

/// While streaming, SIGINT and SIGTERM end the stream instead of the process.
class stream_signals {
public:
  stream_signals() {
    interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~stream_signals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  stream_signals(const stream_signals&) = delete;
  stream_signals& operator=(const stream_signals&) = delete;

private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool wants_color() {
  auto term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr && term != nullptr &&
         std::string_view{term} != "dumb";
}

config load_shell_config(const std::optional<std::string>& path) {
  if (path)
    return load_config_file(*path);
  if (std::filesystem::exists(installed_config))
    return load_config_file(installed_config);
  return parse_config(default_config_text(), "<default>");
}

/// The socket to connect to: --socket PATH, else [shell] socket of --node NAME (or env
/// MONTANA_NODE_NAME) in the configuration.
std::string resolve_socket(const shell_options& o) {
  if (o.socket)
    return *o.socket;
  auto cfg = load_shell_config(o.config_path);
  return expand_node(cfg.shell.socket, resolve_node_name(cfg, o.node));
}

class session {
public:
  session(shell_connection& c, bool json, std::ostream& out)
      : conn_(c), json_(json), color_(!json && wants_color()), out_(out) {}

  /// Runs one command; returns its exit code.
  int run(const std::vector<std::string>& words) {
    try {
      return dispatch(words);
    } catch (const shell_error& e) {
      std::cerr << "montana-actors shell: " << e.what() << "\n";
      return exit_failure;
    }
  }

private:
  text_style style() const { return {color_, unix_us()}; }

  template <class T>
  T ask(std::chrono::milliseconds timeout, json request) {
    return conn_.ask_as<T>(timeout, std::move(request));
  }

  static json request(const std::string& what) { return json{{"ask", what}}; }

  static json action(const std::string& what, const std::string& duty) {
    return json{{"ask", what}, {"duty", duty}};
  }

  template <class T>
  int show(const T& value, const std::function<std::string(const T&, const text_style&)>& text) {
    if (json_)
      out_ << to_json(value).dump(2) << "\n";
    else
      out_ << text(value, style());
    out_.flush();
    return exit_ok;
  }

  int usage(const std::string& problem) {
    std::cerr << "montana-actors shell: " << problem << " (try: help)\n";
    return exit_usage;
  }

  int act(const action_result& r) {
    show<action_result>(r, render_action);
    return r.ok ? exit_ok : exit_failure;
  }

  int stream(bool events, bool log, std::chrono::milliseconds duration) {
    stream_signals signals;
    auto st = style();
    conn_.stream(
        events, log, duration, interrupted,
        [&](const node_event& e) {
          out_ << (json_ ? to_json(e).dump() + "\n" : render_event(e, st));
          out_.flush();
        },
        [&](const log_line& l) {
          out_ << (json_ ? to_json(l).dump() + "\n" : render_log_line(l, st));
          out_.flush();
        });
    return exit_ok;
  }

  static std::optional<int> number(const std::string& word) {
    if (word.empty() || word.size() > 6 ||
        word.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoi(word);
  }

  int dispatch(const std::vector<std::string>& w) {
    const auto& cmd = w[0];
    auto arg = [&](size_t i) { return i < w.size() ? w[i] : std::string{}; };
    if (cmd == "help") {
      out_ << shell_help();
      return exit_ok;
    }
    if (cmd == "status")
      return show<node_status>(ask<node_status>(query_timeout, request("status")), render_status);
    if (cmd == "cluster")
      return show<std::vector<node_view>>(
          ask<std::vector<node_view>>(query_timeout, request("cluster")), render_cluster);
    if (cmd == "chain") {
      auto self = ask<node_status>(query_timeout, request("status"));
      auto views = ask<std::vector<node_view>>(query_timeout, request("cluster"));
      if (json_) {
        auto out = json::array();
        for (const auto& d : self.duties)
          if (arg(1).empty() || d.duty == arg(1))
            out.push_back(
                {{"duty", d.duty}, {"chain", to_json(d)["chain"]}, {"views", to_json(views)}});
        out_ << out.dump(2) << "\n";
        return exit_ok;
      }
      out_ << render_chain(self, views, arg(1), style());
      return exit_ok;
    }
    if (cmd == "probes") {
      auto probes = ask<std::vector<probe_status>>(query_timeout, request("probes"));
      if (json_) {
        std::vector<probe_status> picked;
        for (const auto& p : probes)
          if (arg(1).empty() || p.node == arg(1))
            picked.push_back(p);
        out_ << to_json(picked).dump(2) << "\n";
        return exit_ok;
      }
      out_ << render_probes(probes, arg(1), style());
      return exit_ok;
    }
    if (cmd == "actors")
      return show<std::vector<actor_info>>(
          ask<std::vector<actor_info>>(query_timeout, request("actors")), render_actors);
    if (cmd == "actor") {
      if (w.size() < 2)
        return usage("actor: which one? (NAME, part of it, or ID; see: actors)");
      auto all = ask<std::vector<actor_info>>(query_timeout, request("actors"));
      std::vector<actor_info> found;
      auto wanted = w[1];
      for (size_t i = 2; i < w.size(); ++i)
        wanted += " " + w[i];
      for (const auto& a : all)
        if (a.name == wanted || std::to_string(a.id) == wanted)
          found = {a};
      if (found.empty())
        for (const auto& a : all)
          if (a.name.find(wanted) != std::string::npos)
            found.push_back(a);
      if (found.size() != 1) {
        std::cerr << "montana-actors shell: actor " << wanted << ": "
                  << (found.empty() ? "no such actor" : "ambiguous") << " (see: actors)\n";
        return exit_failure;
      }
      return show<actor_info>(found[0], render_actor);
    }
    if (cmd == "breath")
      return show<std::vector<breath_report>>(
          ask<std::vector<breath_report>>(query_timeout, request("history")), render_breaths);
    if (cmd == "duty") {
      if (arg(1) == "restart")
        return act(ask<action_result>(action_timeout, action("restart", arg(2))));
      if (!arg(1).empty())
        return usage("duty: unknown argument '" + arg(1) + "'");
      auto s = ask<node_status>(query_timeout, request("status"));
      if (json_) {
        out_ << to_json(s)["duties"].dump(2) << "\n";
        return exit_ok;
      }
      out_ << render_duties(s, style());
      return exit_ok;
    }
    if (cmd == "log") {
      bool follow = false;
      int lines = 20;
      for (size_t i = 1; i < w.size(); ++i) {
        if (w[i] == "-f")
          follow = true;
        else if (auto n = number(w[i]))
          lines = *n;
        else
          return usage("log: unknown argument '" + w[i] + "'");
      }
      auto recent = ask<std::vector<log_line>>(query_timeout, json{{"ask", "log"}, {"n", lines}});
      auto st = style();
      for (const auto& l : recent)
        out_ << (json_ ? to_json(l).dump() + "\n" : render_log_line(l, st));
      out_.flush();
      return follow ? stream(false, true, std::chrono::milliseconds{0}) : exit_ok;
    }
    if (cmd == "watch") {
      std::chrono::milliseconds duration{0};
      if (w.size() > 1) {
        auto n = number(w[1]);
        if (!n)
          return usage("watch: SECONDS must be a whole number");
        duration = std::chrono::seconds{*n};
      }
      return stream(true, false, duration);
    }
    if (cmd == "step-down")
      return act(ask<action_result>(action_timeout, action("step-down", arg(1))));
    if (cmd == "resume")
      return act(ask<action_result>(action_timeout, action("resume", arg(1))));
    if (cmd == "breathe")
      return show<breath_report>(
          ask<breath_report>(breathe_timeout, request("breathe")),
          [](const breath_report& b, const text_style& st) { return render_breaths({b}, st); });
    return usage("unknown command '" + cmd + "'");
  }

  shell_connection& conn_;
  bool json_;
  bool color_;
  std::ostream& out_;
};

std::vector<std::string> split(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> words;
  std::string word;
  while (in >> word)
    words.push_back(word);
  return words;
}

/// Completion candidates: commands first, then duty and node names.
std::vector<std::string> completion_words;

char* complete_next(const char* text, int state) {
  static size_t index;
  if (state == 0)
    index = 0;
  std::string_view prefix{text};
  while (index < completion_words.size()) {
    const auto& word = completion_words[index++];
    if (word.compare(0, prefix.size(), prefix) == 0)
      return ::strdup(word.c_str());
  }
  return nullptr;
}

char** complete(const char* text, int, int) {
  rl_attempted_completion_over = 1;
  return rl_completion_matches(text, complete_next);
}

std::string history_file() {
  auto home = std::getenv("HOME");
  return home == nullptr ? std::string{} : std::string{home} + "/.montana_shell_history";
}

int interactive(session& s, shell_connection& conn, const config& cfg) {
  auto tty = ::isatty(STDIN_FILENO) == 1;
  if (!tty) {
    // Commands piped in: one per line, no prompt.
    int last = exit_ok;
    std::string line;
    while (std::getline(std::cin, line)) {
      auto words = split(line);
      if (words.empty())
        continue;
      if (words[0] == "quit" || words[0] == "exit")
        break;
      last = s.run(words);
    }
    return last;
  }
  for (const auto& c : commands)
    completion_words.push_back(c.name);
  completion_words.push_back("quit");
  for (const auto& d : cfg.duties)
    completion_words.push_back(d.name);
  for (const auto& n : cfg.nodes)
    completion_words.push_back(n.name);
  rl_attempted_completion_function = complete;
  auto history = history_file();
  if (!history.empty())
    ::read_history(history.c_str());
  std::cout << "montana-actors shell: operator " << conn.operator_name() << " on node "
            << conn.node() << "; help lists the commands, quit (or Ctrl-D) ends\n";
  auto prompt = "montana " + conn.node() + "> ";
  for (;;) {
    char* raw = ::readline(prompt.c_str());
    if (raw == nullptr) {
      std::cout << "\n";
      break;
    }
    std::string line{raw};
    std::free(raw);
    auto words = split(line);
    if (words.empty())
      continue;
    ::add_history(line.c_str());
    if (words[0] == "quit" || words[0] == "exit")
      break;
    s.run(words);
  }
  if (!history.empty()) {
    ::write_history(history.c_str());
    ::history_truncate_file(history.c_str(), 1000);
  }
  return exit_ok;
}

} // namespace

std::string shell_help() {
  std::string out = "commands (--json on the command line gives JSON):\n";
  for (const auto& c : commands) {
    auto head = std::string{c.name} + (std::string_view{c.args}.empty() ? "" : " ") + c.args;
    out += "  " + head + std::string(head.size() < 26 ? 26 - head.size() : 1, ' ') + c.what + "\n";
  }
  out += "  quit                      end the session (interactive)\n";
  return out;
}

int run_shell(const shell_options& options) {
  shell_connection conn{resolve_socket(options)};
  session s{conn, options.json, std::cout};
  if (!options.command.empty())
    return s.run(options.command);
  return interactive(s, conn, load_shell_config(options.config_path));
}

} // namespace montana
