// Reads the cluster configuration from TOML. Every problem becomes one config_error line naming the
// file, the line and the dotted key, so an operator can fix a typo without reading this code.
#include "runtime/config.hpp"

#include "actors/breath_port.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <sstream>

namespace montana {

namespace {

// Kept identical to deploy/montana.toml (a test compares them).
constexpr std::string_view default_text =
    R"(# montana-actors cluster configuration: the built-in default.
# Every key is described in docs/configuration.md; [probe], [channel] and [log] keep their defaults.

[cluster]
port = 19333

# Priority order: the first live node of a duty's chain runs the duty.
[[cluster.nodes]]
name = "amsterdam"
host = "72.56.102.240"

[[cluster.nodes]]
name = "moscow"
host = "176.124.208.93"

[[cluster.nodes]]
name = "almaty"
host = "91.200.148.93"

[[cluster.nodes]]
name = "spb"
host = "188.225.58.98"

[[cluster.nodes]]
name = "novosibirsk"
host = "147.45.147.247"

# The Telegram bot's long-poll process, over the whole chain (no `chain` key = all nodes above).
# Installations override `command` with their own bot; secrets belong in the service's
# environment file, never here.
[duty.bot]
command = ["/usr/bin/python3", "/opt/montana/bot/bot.py"]

# Prometheus metrics and the status as JSON over HTTP, for this host only.
[status]
listen = "127.0.0.1:9333"
)";

/// Longest accepted duration: anything longer is a unit mistake, and it keeps the arithmetic exact.
constexpr double max_duration_ms = 24.0 * 3600 * 1000;

/// Upper bound for rise and fall: beyond it a verdict would take minutes to change.
constexpr int max_count = 100;

/// Upper bound for the channel's handshake caps: each one holds a descriptor.
constexpr int max_handshakes = 4096;

/// Escapes control characters so that every message stays on one line, whatever the input held.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else
      out += c;
  }
  return out;
}

std::string type_name(toml::node_type type) {
  std::ostringstream out;
  out << type;
  return out.str();
}

/// Milliseconds shown the way they are written in the file: "2s" or "250ms".
std::string show(duration d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

/// "a, b, c" for lists in messages.
template <class Names>
std::string join(const Names& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty())
      out += ", ";
    out += name;
  }
  return out;
}

std::string child(const std::string& key, std::string_view name) {
  return key.empty() ? std::string{name} : key + "." + std::string{name};
}

std::string element(const std::string& key, size_t index) {
  return key + "[" + std::to_string(index) + "]";
}

bool is_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

/// True for names a process environment can hold without surprises.
bool is_env_name(std::string_view text) {
  auto head = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  return !text.empty() && head(text[0]) && std::all_of(text.begin() + 1, text.end(), [&](char c) {
    return head(c) || (c >= '0' && c <= '9');
  });
}

/// Milliseconds written as "250ms", "2s", "1.5s" or "1m"; nullopt for anything else.
std::optional<double> duration_text_ms(std::string_view text) {
  auto unit_at = text.find_first_not_of("0123456789.");
  if (unit_at == 0 || unit_at == std::string_view::npos)
    return std::nullopt;
  auto number = text.substr(0, unit_at);
  // from_chars alone would also take "1.", ".5" and exponents.
  auto dot = number.find('.');
  if (dot != std::string_view::npos &&
      (dot == 0 || dot + 1 == number.size() || number.find('.', dot + 1) != std::string_view::npos))
    return std::nullopt;
  double amount = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), amount);
  if (ec != std::errc{} || end != number.data() + number.size())
    return std::nullopt;
  static constexpr std::pair<std::string_view, double> units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}};
  for (auto [unit, ms] : units)
    if (text.substr(unit_at) == unit)
      return amount * ms;
  return std::nullopt;
}

/// Walks the parsed document and fills a config; stops at the first problem.
class reader {
public:
  explicit reader(const std::string& origin) : origin_(origin) {}

  config read(const toml::table& root) const;

private:
  /// Reads one present key, given its value and its dotted name.
  using read_fn = std::function<void(const toml::node&, const std::string&)>;

  /// One key a table accepts; read in declaration order, so a field may use those before it.
  struct field {
    std::string_view name;
    read_fn read;
    bool required = false;
  };

  enum class zero { refused, allowed };

  [[noreturn]] void fail(const toml::source_region& at, const std::string& key,
                         const std::string& problem) const;
  [[noreturn]] void expected(const toml::node& value, const std::string& key,
                             std::string_view what) const;

  void read_fields(const toml::node& value, const std::string& key,
                   const std::vector<field>& fields) const;
  std::string read_text(const toml::node& value, const std::string& key) const;
  std::string read_name(const toml::node& value, const std::string& key) const;
  std::string read_choice(const toml::node& value, const std::string& key,
                          std::initializer_list<std::string_view> allowed) const;
  int read_int(const toml::node& value, const std::string& key, int min, int max) const;
  uint16_t read_port(const toml::node& value, const std::string& key) const;
  duration read_duration(const toml::node& value, const std::string& key, zero z) const;
  /// A field reader storing a duration into `target`.
  read_fn into(duration& target, zero z) const;
  void check_order(const toml::node& table, const std::string& key, std::string_view lower,
                   duration lo, std::string_view upper, duration hi, bool strict) const;

  void read_cluster(const toml::node& value, const std::string& key,
                    std::vector<node_entry>& nodes) const;
  void read_nodes(const toml::node& value, const std::string& key, uint16_t port,
                  std::vector<node_entry>& nodes) const;
  void read_log(const toml::node& value, const std::string& key, log_settings& log) const;
  void read_status(const toml::node& value, const std::string& key, status_settings& status) const;
  void read_state(const toml::node& value, const std::string& key, state_settings& state) const;
  void read_tls(const toml::node& value, const std::string& key, tls_settings& tls) const;
  void read_shell(const toml::node& value, const std::string& key, shell_settings& shell) const;
  void read_breath(const toml::node& value, const std::string& key, breath_settings& breath) const;
  std::vector<std::string> read_paths(const toml::node& value, const std::string& key) const;
  void read_probe(const toml::node& value, const std::string& key, probe_settings& probe) const;
  void read_channel(const toml::node& value, const std::string& key,
                    channel_settings& channel) const;
  void read_duties(const toml::node& value, const std::string& key, config& cfg) const;
  void read_duty(const toml::node& value, const std::string& key, const config& cfg,
                 duty_settings& duty) const;
  std::vector<std::string> read_chain(const toml::node& value, const std::string& key,
                                      const config& cfg) const;
  std::vector<std::string> read_command(const toml::node& value, const std::string& key) const;
  std::map<std::string, std::string> read_env(const toml::node& value,
                                              const std::string& key) const;

  const std::string& origin_;
};

void reader::fail(const toml::source_region& at, const std::string& key,
                  const std::string& problem) const {
  auto line = at.begin.line;
  throw config_error{one_line(origin_ + (line > 0 ? ":" + std::to_string(line) : "") + ": " + key +
                              ": " + problem)};
}

void reader::expected(const toml::node& value, const std::string& key,
                      std::string_view what) const {
  fail(value.source(), key, "expected " + std::string{what} + ", got " + type_name(value.type()));
}

void reader::read_fields(const toml::node& value, const std::string& key,
                         const std::vector<field>& fields) const {
  auto* table = value.as_table();
  if (!table)
    expected(value, key, "a table");
  std::vector<std::string_view> names;
  for (const auto& f : fields)
    names.push_back(f.name);
  for (auto&& [name, _] : *table)
    if (std::find(names.begin(), names.end(), name.str()) == names.end())
      fail(name.source(), child(key, name.str()), "unknown key (known: " + join(names) + ")");
  for (const auto& f : fields) {
    if (auto* present = table->get(f.name))
      f.read(*present, child(key, f.name));
    else if (f.required)
      // The root's region spans the whole file: its first line would point nowhere useful.
      fail(key.empty() ? toml::source_region{} : table->source(), child(key, f.name),
           "missing required key");
  }
}

std::string reader::read_text(const toml::node& value, const std::string& key) const {
  auto* text = value.as_string();
  if (!text)
    expected(value, key, "a string");
  if (text->get().empty())
    fail(value.source(), key, "must not be empty");
  return text->get();
}

std::string reader::read_name(const toml::node& value, const std::string& key) const {
  auto text = read_text(value, key);
  if (!is_name(text))
    fail(value.source(), key, "'" + text + "' must consist of a-z, 0-9 and '-'");
  return text;
}

std::string reader::read_choice(const toml::node& value, const std::string& key,
                                std::initializer_list<std::string_view> allowed) const {
  auto text = read_text(value, key);
  if (std::find(allowed.begin(), allowed.end(), text) != allowed.end())
    return text;
  fail(value.source(), key, "'" + text + "' is not one of: " + join(allowed));
}

int reader::read_int(const toml::node& value, const std::string& key, int min, int max) const {
  auto* number = value.as_integer();
  if (!number)
    expected(value, key, "an integer");
  if (number->get() < min || number->get() > max)
    fail(value.source(), key,
         std::to_string(number->get()) + " is out of range " + std::to_string(min) + ".." +
             std::to_string(max));
  return static_cast<int>(number->get());
}

uint16_t reader::read_port(const toml::node& value, const std::string& key) const {
  return static_cast<uint16_t>(read_int(value, key, 1, 65535));
}

duration reader::read_duration(const toml::node& value, const std::string& key, zero z) const {
  double ms = 0;
  if (auto* seconds = value.as_integer())
    ms = static_cast<double>(seconds->get()) * 1000;
  else if (auto* seconds = value.as_floating_point())
    ms = seconds->get() * 1000;
  else if (auto* text = value.as_string()) {
    auto parsed = duration_text_ms(text->get());
    if (!parsed)
      fail(value.source(), key,
           "'" + text->get() +
               "' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")");
    ms = *parsed;
  } else
    expected(value, key, "a duration (seconds, or a string like \"250ms\")");
  if (std::isnan(ms))
    fail(value.source(), key, "must be a number of seconds, not nan");
  if (ms < 0)
    fail(value.source(), key, "must not be negative");
  if (ms > max_duration_ms)
    fail(value.source(), key, "must be at most 24h");
  if (std::abs(ms - std::round(ms)) > 1e-6)
    fail(value.source(), key, "must be a whole number of milliseconds");
  if (ms == 0 && z == zero::refused)
    fail(value.source(), key, "must be greater than zero");
  return duration{static_cast<duration::rep>(std::round(ms))};
}

reader::read_fn reader::into(duration& target, zero z) const {
  return [this, &target, z](auto& v, auto& k) { target = read_duration(v, k, z); };
}

/// Blames whichever of the two keys the file sets, so the line points at something the user wrote.
void reader::check_order(const toml::node& table, const std::string& key, std::string_view lower,
                         duration lo, std::string_view upper, duration hi, bool strict) const {
  if (strict ? lo < hi : lo <= hi)
    return;
  auto relation = strict ? "less than" : "at most";
  if (auto* set = table.as_table()->get(lower))
    fail(set->source(), child(key, lower),
         show(lo) + " must be " + relation + " " + child(key, upper) + " (" + show(hi) + ")");
  auto converse = strict ? "greater than" : "at least";
  auto* set = table.as_table()->get(upper);
  fail(set ? set->source() : table.source(), child(key, upper),
       show(hi) + " must be " + converse + " " + child(key, lower) + " (" + show(lo) + ")");
}

config reader::read(const toml::table& root) const {
  config cfg;
  read_fields(root, "",
              {
                  {"cluster", [&](auto& v, auto& k) { read_cluster(v, k, cfg.nodes); }, true},
                  {"probe", [&](auto& v, auto& k) { read_probe(v, k, cfg.probe); }},
                  {"channel", [&](auto& v, auto& k) { read_channel(v, k, cfg.channel); }},
                  {"duty", [&](auto& v, auto& k) { read_duties(v, k, cfg); }, true},
                  {"tls", [&](auto& v, auto& k) { read_tls(v, k, cfg.tls); }},
                  {"breath", [&](auto& v, auto& k) { read_breath(v, k, cfg.breath); }},
                  {"log", [&](auto& v, auto& k) { read_log(v, k, cfg.log); }},
                  {"status", [&](auto& v, auto& k) { read_status(v, k, cfg.status); }},
                  {"state", [&](auto& v, auto& k) { read_state(v, k, cfg.state); }},
                  {"shell", [&](auto& v, auto& k) { read_shell(v, k, cfg.shell); }},
              });
  return cfg;
}

void reader::read_state(const toml::node& value, const std::string& key,
                        state_settings& state) const {
  read_fields(value, key, {{"dir", [&](auto& v, auto& k) { state.dir = read_text(v, k); }}});
}

void reader::read_shell(const toml::node& value, const std::string& key,
                        shell_settings& shell) const {
  read_fields(value, key, {{"socket", [&](auto& v, auto& k) { shell.socket = read_text(v, k); }}});
}

void reader::read_status(const toml::node& value, const std::string& key,
                         status_settings& status) const {
  status.enabled = true;
  read_fields(
      value, key,
      {{"listen", [&](auto& v, auto& k) {
          auto text = read_text(v, k);
          auto colon = text.rfind(':');
          auto port = colon == std::string::npos ? 0 : std::atoi(text.c_str() + colon + 1);
          auto digits = colon != std::string::npos && colon + 1 < text.size() &&
                        text.find_first_not_of("0123456789", colon + 1) == std::string::npos;
          if (colon == 0 || !digits || port < 1 || port > 65535)
            fail(v.source(), k, "'" + text + "' must be HOST:PORT, e.g. \"127.0.0.1:9333\"");
          status.host = text.substr(0, colon);
          status.port = static_cast<uint16_t>(port);
        }}});
}

void reader::read_tls(const toml::node& value, const std::string& key, tls_settings& tls) const {
  read_fields(value, key,
              {
                  {"key", [&](auto& v, auto& k) { tls.key = read_text(v, k); }},
                  {"certificates", [&](auto& v, auto& k) { tls.certificates = read_text(v, k); }},
                  {"registry", [&](auto& v, auto& k) { tls.registry = read_text(v, k); }},
              });
}

void reader::read_breath(const toml::node& value, const std::string& key,
                         breath_settings& breath) const {
  auto& auth = breath.credentials;
  read_fields(
      value, key,
      {
          {"repo", [&](auto& v, auto& k) { breath.repo = read_text(v, k); }},
          {"remote", [&](auto& v, auto& k) { breath.remote = read_text(v, k); }},
          {"branch", [&](auto& v, auto& k) { breath.branch = read_text(v, k); }},
          {"interval", into(breath.interval, zero::refused)},
          {"paths", [&](auto& v, auto& k) { breath.paths = read_paths(v, k); }},
          {"author_name", [&](auto& v, auto& k) { breath.author_name = read_text(v, k); }},
          {"author_email", [&](auto& v, auto& k) { breath.author_email = read_text(v, k); }},
          {"ssh_key", [&](auto& v, auto& k) { auth.ssh_key = read_text(v, k); }},
          {"ssh_user", [&](auto& v, auto& k) { auth.ssh_user = read_text(v, k); }},
          {"token_file", [&](auto& v, auto& k) { auth.token_file = read_text(v, k); }},
          {"token_env", [&](auto& v, auto& k) { auth.token_env = read_text(v, k); }},
          {"token_user", [&](auto& v, auto& k) { auth.token_user = read_text(v, k); }},
          {"push_attempts",
           [&](auto& v, auto& k) { breath.push_attempts = read_int(v, k, 1, max_count); }},
          {"step_timeout", into(breath.step_timeout, zero::refused)},
          {"backoff_max", into(breath.backoff_max, zero::refused)},
          {"history", [&](auto& v, auto& k) { breath.history = read_int(v, k, 1, 10000); }},
      });
  check_order(value, key, "interval", breath.interval, "backoff_max", breath.backoff_max, false);
  if (!auth.token_file.empty() && !auth.token_env.empty())
    fail(value.as_table()->get("token_env")->source(), child(key, "token_env"),
         "give the token either in token_file or in token_env, not both");
}

std::vector<std::string> reader::read_paths(const toml::node& value, const std::string& key) const {
  auto* array = value.as_array();
  if (!array)
    expected(value, key, "an array of repository-relative paths");
  if (array->empty())
    fail(value.source(), key, "must not be empty");
  std::vector<std::string> paths;
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& item = (*array)[i];
    auto path = read_text(item, element(key, i));
    if (!repo_relative(path))
      fail(item.source(), element(key, i),
           "'" + path + "' must be a relative path inside the repository (no '..', no .git)");
    if (std::find(paths.begin(), paths.end(), path) != paths.end())
      fail(item.source(), element(key, i), "'" + path + "' appears twice");
    paths.push_back(std::move(path));
  }
  return paths;
}

void reader::read_log(const toml::node& value, const std::string& key, log_settings& log) const {
  read_fields(value, key,
              {{"level", [&](auto& v, auto& k) {
                  log.level = read_choice(v, k, {"trace", "debug", "info", "warn", "error", "off"});
                }}});
}

void reader::read_cluster(const toml::node& value, const std::string& key,
                          std::vector<node_entry>& nodes) const {
  uint16_t port = node_entry{}.port;
  read_fields(value, key,
              {
                  {"port", [&](auto& v, auto& k) { port = read_port(v, k); }},
                  {"nodes", [&](auto& v, auto& k) { read_nodes(v, k, port, nodes); }, true},
              });
}

void reader::read_nodes(const toml::node& value, const std::string& key, uint16_t port,
                        std::vector<node_entry>& nodes) const {
  auto* array = value.as_array();
  if (!array)
    expected(value, key, "an array of tables ([[cluster.nodes]])");
  if (array->empty())
    fail(value.source(), key, "at least one node is required");
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& item = (*array)[i];
    auto item_key = element(key, i);
    node_entry entry;
    entry.port = port;
    read_fields(item, item_key,
                {
                    {"name", [&](auto& v, auto& k) { entry.name = read_name(v, k); }, true},
                    {"host", [&](auto& v, auto& k) { entry.host = read_text(v, k); }, true},
                    {"port", [&](auto& v, auto& k) { entry.port = read_port(v, k); }},
                    {"bind", [&](auto& v, auto& k) { entry.bind = read_text(v, k); }},
                });
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (nodes[j].name == entry.name)
        fail(item.as_table()->get("name")->source(), child(item_key, "name"),
             "duplicate node '" + entry.name + "' (already " + element(key, j) + ")");
      // Two nodes on one endpoint would dial each other's listener by mistake.
      if (nodes[j].host == entry.host && nodes[j].port == entry.port)
        fail(item.as_table()->get("host")->source(), child(item_key, "host"),
             entry.host + ":" + std::to_string(entry.port) + " is already used by node '" +
                 nodes[j].name + "'");
    }
    nodes.push_back(std::move(entry));
  }
}

void reader::read_probe(const toml::node& value, const std::string& key,
                        probe_settings& probe) const {
  read_fields(value, key,
              {
                  {"interval", into(probe.interval, zero::refused)},
                  {"timeout", into(probe.timeout, zero::refused)},
                  {"retry", into(probe.retry, zero::refused)},
                  {"checks",
                   [&](auto& v, auto& k) {
                     probe.checks = read_choice(v, k, {"service", "host"}) == "host"
                                        ? check_mode::host
                                        : check_mode::service;
                   }},
                  {"rise", [&](auto& v, auto& k) { probe.rise = read_int(v, k, 1, max_count); }},
                  {"fall", [&](auto& v, auto& k) { probe.fall = read_int(v, k, 1, max_count); }},
              });
  // A probe still waiting when the next one is due would overlap with it.
  check_order(value, key, "timeout", probe.timeout, "interval", probe.interval, true);
}

void reader::read_channel(const toml::node& value, const std::string& key,
                          channel_settings& channel) const {
  read_fields(
      value, key,
      {
          {"heartbeat_interval", into(channel.heartbeat_interval, zero::refused)},
          {"connection_timeout", into(channel.connection_timeout, zero::refused)},
          {"handshake_timeout", into(channel.handshake_timeout, zero::refused)},
          {"reconnect_min", into(channel.reconnect_min, zero::refused)},
          {"reconnect_max", into(channel.reconnect_max, zero::refused)},
          {"max_handshakes",
           [&](auto& v, auto& k) { channel.max_handshakes = read_int(v, k, 1, max_handshakes); }},
          {"max_handshakes_per_host",
           [&](auto& v, auto& k) {
             channel.max_handshakes_per_host = read_int(v, k, 1, max_handshakes);
           }},
      });
  // A timeout within one heartbeat would drop healthy links.
  check_order(value, key, "heartbeat_interval", channel.heartbeat_interval, "connection_timeout",
              channel.connection_timeout, true);
  check_order(value, key, "reconnect_min", channel.reconnect_min, "reconnect_max",
              channel.reconnect_max, false);
}

void reader::read_duties(const toml::node& value, const std::string& key, config& cfg) const {
  auto* table = value.as_table();
  if (!table)
    expected(value, key, "a table of duties ([duty.<name>])");
  if (table->empty())
    fail(value.source(), key, "at least one duty is required ([duty.<name>])");
  // toml++ keeps keys sorted; duties keep the order of the file instead.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [name, duty] : *table)
    entries.emplace_back(&name, &duty);
  std::sort(entries.begin(), entries.end(),
            [](auto& a, auto& b) { return a.first->source().begin < b.first->source().begin; });
  for (auto [name, duty] : entries) {
    auto duty_key = child(key, name->str());
    if (!is_name(name->str()))
      fail(name->source(), duty_key, "duty name must consist of a-z, 0-9 and '-'");
    duty_settings settings;
    settings.name = name->str();
    read_duty(*duty, duty_key, cfg, settings);
    cfg.duties.push_back(std::move(settings));
  }
}

void reader::read_duty(const toml::node& value, const std::string& key, const config& cfg,
                       duty_settings& duty) const {
  for (const auto& node : cfg.nodes)
    duty.chain.push_back(node.name);
  read_fields(value, key,
              {
                  {"chain", [&](auto& v, auto& k) { duty.chain = read_chain(v, k, cfg); }},
                  {"command", [&](auto& v, auto& k) { duty.command = read_command(v, k); }, true},
                  {"env", [&](auto& v, auto& k) { duty.env = read_env(v, k); }},
                  {"stop_grace", into(duty.stop_grace, zero::refused)},
                  {"startup_delay", into(duty.startup_delay, zero::allowed)},
                  {"restart_min", into(duty.restart_min, zero::refused)},
                  {"restart_max", into(duty.restart_max, zero::refused)},
              });
  check_order(value, key, "restart_min", duty.restart_min, "restart_max", duty.restart_max, false);
}

std::vector<std::string> reader::read_chain(const toml::node& value, const std::string& key,
                                            const config& cfg) const {
  auto* array = value.as_array();
  if (!array)
    expected(value, key, "an array of node names");
  if (array->empty())
    fail(value.source(), key, "must name at least one node");
  std::vector<std::string> chain;
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& item = (*array)[i];
    auto name = read_text(item, element(key, i));
    if (!cfg.find_node(name))
      fail(item.source(), element(key, i),
           "unknown node '" + name + "' (known: " + cfg.node_names() + ")");
    if (std::find(chain.begin(), chain.end(), name) != chain.end())
      fail(item.source(), element(key, i), "node '" + name + "' appears twice");
    chain.push_back(std::move(name));
  }
  return chain;
}

std::vector<std::string> reader::read_command(const toml::node& value,
                                              const std::string& key) const {
  if (auto* line = value.as_string()) {
    if (line->get().find_first_not_of(" \t") == std::string::npos)
      fail(value.source(), key, "must not be empty");
    return {"/bin/sh", "-c", line->get()};
  }
  auto* array = value.as_array();
  if (!array)
    expected(value, key, "an array of strings (argv) or a string (run by /bin/sh -c)");
  if (array->empty())
    fail(value.source(), key, "must not be empty");
  // Only the program must be non-empty: an empty argument is a legitimate argument.
  std::vector<std::string> argv{read_text((*array)[0], element(key, 0))};
  for (size_t i = 1; i < array->size(); ++i) {
    auto* arg = (*array)[i].as_string();
    if (!arg)
      expected((*array)[i], element(key, i), "a string");
    argv.push_back(arg->get());
  }
  return argv;
}

std::map<std::string, std::string> reader::read_env(const toml::node& value,
                                                    const std::string& key) const {
  auto* table = value.as_table();
  if (!table)
    expected(value, key, "a table of strings");
  std::map<std::string, std::string> env;
  for (auto&& [name, text] : *table) {
    auto var_key = child(key, name.str());
    if (!is_env_name(name.str()))
      fail(name.source(), var_key, "not a valid environment variable name");
    auto* str = text.as_string();
    if (!str)
      expected(text, var_key, "a string");
    env.emplace(name.str(), str->get());
  }
  return env;
}

} // namespace

const node_entry* config::find_node(const std::string& name) const {
  auto i = std::find_if(nodes.begin(), nodes.end(), [&](auto& n) { return n.name == name; });
  return i == nodes.end() ? nullptr : &*i;
}

int config::rank(const std::string& name) const {
  auto* node = find_node(name);
  return node ? static_cast<int>(node - nodes.data()) : -1;
}

std::string config::node_names() const {
  std::vector<std::string_view> names;
  for (const auto& node : nodes)
    names.push_back(node.name);
  return join(names);
}

std::string_view default_config_text() {
  return default_text;
}

config parse_config(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view{origin});
  } catch (const toml::parse_error& e) {
    auto at = e.source().begin;
    throw config_error{one_line(origin + ":" + std::to_string(at.line) + ":" +
                                std::to_string(at.column) + ": " + std::string{e.description()})};
  }
  return reader{origin}.read(root);
}

config load_config_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"), std::fclose};
  if (!file)
    throw config_error{one_line(path + ": cannot open: " + std::strerror(errno))};
  std::string text;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, file.get()))
    text.append(buf, n);
  if (std::ferror(file.get()))
    throw config_error{one_line(path + ": cannot read: " + std::strerror(errno))};
  return parse_config(text, path);
}

std::string resolve_node_name(const config& cfg, const std::optional<std::string>& flag) {
  std::string name;
  if (flag)
    name = *flag;
  else if (auto* env = std::getenv("MONTANA_NODE_NAME"))
    name = env;
  // Never fall back to a node: a stray instance must not become one of the cluster. An empty value
  // (`--node "$UNSET"`, `Environment=MONTANA_NODE_NAME=`) counts as not set.
  if (name.empty())
    throw config_error{"node name not set: pass --node NAME or set MONTANA_NODE_NAME (known: " +
                       cfg.node_names() + ")"};
  if (!cfg.find_node(name))
    throw config_error{one_line("unknown node '" + name + "' (known: " + cfg.node_names() + ")")};
  return name;
}

std::string expand_node(std::string text, const std::string& node) {
  static constexpr std::string_view placeholder = "{node}";
  for (auto at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + node.size()))
    text.replace(at, placeholder.size(), node);
  return text;
}

breath_settings breath_for(const config& cfg, const std::string& node) {
  auto out = cfg.breath;
  for (auto* text : {&out.repo, &out.author_name, &out.author_email, &out.credentials.ssh_key,
                     &out.credentials.token_file})
    *text = expand_node(std::move(*text), node);
  return out;
}

namespace {

/// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string quoted(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : ", ") + quoted(items[i]);
  return out + "]";
}

std::string ms(duration d) {
  return "\"" + std::to_string(d.count()) + "ms\"";
}

} // namespace

std::string config_text(const config& cfg) {
  std::string t = "[cluster]\n";
  for (const auto& n : cfg.nodes) {
    t += "\n[[cluster.nodes]]\nname = " + quoted(n.name) + "\nhost = " + quoted(n.host) +
         "\nport = " + std::to_string(n.port) + "\n";
    if (!n.bind.empty())
      t += "bind = " + quoted(n.bind) + "\n";
  }
  const auto& p = cfg.probe;
  t += "\n[probe]\ninterval = " + ms(p.interval) + "\ntimeout = " + ms(p.timeout) +
       "\nretry = " + ms(p.retry) +
       "\nchecks = " + quoted(p.checks == check_mode::service ? "service" : "host") +
       "\nrise = " + std::to_string(p.rise) + "\nfall = " + std::to_string(p.fall) + "\n";
  const auto& c = cfg.channel;
  t += "\n[channel]\nheartbeat_interval = " + ms(c.heartbeat_interval) +
       "\nconnection_timeout = " + ms(c.connection_timeout) +
       "\nhandshake_timeout = " + ms(c.handshake_timeout) +
       "\nreconnect_min = " + ms(c.reconnect_min) + "\nreconnect_max = " + ms(c.reconnect_max) +
       "\nmax_handshakes = " + std::to_string(c.max_handshakes) +
       "\nmax_handshakes_per_host = " + std::to_string(c.max_handshakes_per_host) + "\n";
  for (const auto& d : cfg.duties) {
    t += "\n[duty." + d.name + "]\nchain = " + quoted(d.chain) +
         "\ncommand = " + quoted(d.command) + "\nstop_grace = " + ms(d.stop_grace) +
         "\nstartup_delay = " + ms(d.startup_delay) + "\nrestart_min = " + ms(d.restart_min) +
         "\nrestart_max = " + ms(d.restart_max) + "\n";
    if (!d.env.empty()) {
      t += "env = {";
      bool first = true;
      for (const auto& [name, value] : d.env) {
        t += std::string{first ? " " : ", "} + name + " = " + quoted(value);
        first = false;
      }
      t += " }\n";
    }
  }
  t += "\n[tls]\nkey = " + quoted(cfg.tls.key) +
       "\ncertificates = " + quoted(cfg.tls.certificates) +
       "\nregistry = " + quoted(cfg.tls.registry) + "\n";
  if (!cfg.breath.repo.empty()) {
    const auto& b = cfg.breath;
    const auto& a = b.credentials;
    t += "\n[breath]\nrepo = " + quoted(b.repo) + "\nremote = " + quoted(b.remote) +
         "\nbranch = " + quoted(b.branch) + "\ninterval = " + ms(b.interval) +
         "\npaths = " + quoted(b.paths) + "\nauthor_name = " + quoted(b.author_name) +
         "\nauthor_email = " + quoted(b.author_email) + "\nssh_user = " + quoted(a.ssh_user) +
         "\ntoken_user = " + quoted(a.token_user) +
         "\npush_attempts = " + std::to_string(b.push_attempts) +
         "\nstep_timeout = " + ms(b.step_timeout) + "\nbackoff_max = " + ms(b.backoff_max) +
         "\nhistory = " + std::to_string(b.history) + "\n";
    for (const auto& [key, value] :
         {std::pair{"ssh_key", a.ssh_key}, std::pair{"token_file", a.token_file},
          std::pair{"token_env", a.token_env}})
      if (!value.empty())
        t += std::string{key} + " = " + quoted(value) + "\n";
  }
  t += "\n[log]\nlevel = " + quoted(cfg.log.level) + "\n";
  if (cfg.status.enabled)
    t += "\n[status]\nlisten = " + quoted(cfg.status.host + ":" + std::to_string(cfg.status.port)) +
         "\n";
  t += "\n[state]\ndir = " + quoted(cfg.state.dir) + "\n";
  t += "\n[shell]\nsocket = " + quoted(cfg.shell.socket) + "\n";
  return t;
}

std::vector<std::string> changes_needing_restart(const config& running, const config& fresh) {
  std::vector<std::string> out;
  if (running.nodes != fresh.nodes)
    out.emplace_back("[[cluster.nodes]]");
  if (running.channel != fresh.channel)
    out.emplace_back("[channel]");
  if (running.tls != fresh.tls)
    out.emplace_back("[tls]");
  if (running.breath != fresh.breath)
    out.emplace_back("[breath]");
  if (running.status != fresh.status)
    out.emplace_back("[status]");
  if (running.state != fresh.state)
    out.emplace_back("[state]");
  if (running.shell != fresh.shell)
    out.emplace_back("[shell]");
  for (const auto& d : fresh.duties) {
    auto old = std::find_if(running.duties.begin(), running.duties.end(),
                            [&](const duty_settings& x) { return x.name == d.name; });
    if (old == running.duties.end()) {
      out.emplace_back("duty " + d.name + " (new)");
      continue;
    }
    if (old->chain != d.chain)
      out.emplace_back("duty " + d.name + ": chain");
    if (old->startup_delay != d.startup_delay)
      out.emplace_back("duty " + d.name + ": startup_delay");
  }
  for (const auto& d : running.duties)
    if (std::none_of(fresh.duties.begin(), fresh.duties.end(),
                     [&](const duty_settings& x) { return x.name == d.name; }))
      out.emplace_back("duty " + d.name + " (removed)");
  return out;
}

void apply_fast_profile(config& cfg) {
  cfg.probe.interval = duration{200};
  cfg.probe.timeout = duration{100};
  cfg.probe.retry = duration{20};
  cfg.probe.rise = 2;
  cfg.probe.fall = 2;
  cfg.channel.heartbeat_interval = duration{100};
  cfg.channel.connection_timeout = duration{300};
  cfg.channel.reconnect_max = duration{300};
  for (auto& duty : cfg.duties)
    duty.startup_delay = duration{300};
}

} // namespace montana
