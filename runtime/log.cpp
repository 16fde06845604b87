#include "runtime/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>

namespace montana {

namespace {

/// Lines kept for `log`.
constexpr size_t ring_lines = 2000;

/// The node a line's tag names: "moscow" for "[moscow] …", "[moscow/bot] …", "[moscow peer] …";
/// empty when the line has no such tag.
std::string tagged_node(const std::string& text) {
  if (text.empty() || text[0] != '[')
    return {};
  auto end = text.find_first_of("]/ ", 1);
  return end == std::string::npos ? std::string{} : text.substr(1, end - 1);
}

/// Whether `line` belongs to `node`'s log: it names `node` or no node of `cluster`.
bool belongs(const std::string& text, const std::string& node,
             const std::vector<std::string>& cluster) {
  auto tagged = tagged_node(text);
  return tagged == node || std::find(cluster.begin(), cluster.end(), tagged) == cluster.end();
}

/// A sink that keeps the last lines of the process and hands new ones to followers.
class log_ring final : public spdlog::sinks::base_sink<std::mutex> {
public:
  struct follower {
    caf::actor who;
    std::string node;
    std::vector<std::string> cluster;
  };

  std::vector<log_line> recent(size_t n, const std::string& node,
                               const std::vector<std::string>& cluster) {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<log_line> out;
    for (auto i = lines_.rbegin(); i != lines_.rend() && out.size() < n; ++i)
      if (belongs(i->text, node, cluster))
        out.push_back(*i);
    std::reverse(out.begin(), out.end());
    return out;
  }

  uint64_t follow(follower f) {
    std::lock_guard<std::mutex> guard{mutex_};
    followers_.emplace(++last_id_, std::move(f));
    return last_id_;
  }

  void unfollow(uint64_t id) {
    std::lock_guard<std::mutex> guard{mutex_};
    followers_.erase(id);
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    log_line line;
    line.at_us =
        std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    auto level = spdlog::level::to_string_view(msg.level);
    line.level.assign(level.data(), level.size());
    line.text.assign(msg.payload.data(), msg.payload.size());
    for (const auto& [id, f] : followers_)
      if (belongs(line.text, f.node, f.cluster))
        caf::anon_send(f.who, line);
    lines_.push_back(std::move(line));
    if (lines_.size() > ring_lines)
      lines_.pop_front();
  }

  void flush_() override {}

private:
  std::deque<log_line> lines_;
  std::map<uint64_t, follower> followers_;
  uint64_t last_id_ = 0;
};

std::shared_ptr<log_ring> ring() {
  static auto instance = std::make_shared<log_ring>();
  return instance;
}

class node_log_feed final : public log_feed {
public:
  node_log_feed(std::string node, std::vector<std::string> cluster)
      : node_(std::move(node)), cluster_(std::move(cluster)) {}

  std::vector<log_line> recent(size_t n) override { return ring()->recent(n, node_, cluster_); }

  uint64_t follow(caf::actor who) override {
    return ring()->follow({std::move(who), node_, cluster_});
  }

  void unfollow(uint64_t id) override { ring()->unfollow(id); }

private:
  std::string node_;
  std::vector<std::string> cluster_;
};

} // namespace

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("montana");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->sinks().push_back(ring());
  spdlog::set_default_logger(std::move(logger));
}

bool set_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str maps anything it does not know to `off`.
  if (parsed == spdlog::level::off && level != "off")
    return false;
  spdlog::default_logger()->set_level(parsed);
  return true;
}

void attach_log_ring() {
  auto& sinks = spdlog::default_logger()->sinks();
  if (std::find(sinks.begin(), sinks.end(), ring()) == sinks.end())
    sinks.push_back(ring());
}

log_feed_ptr node_log(const std::string& node, const std::vector<std::string>& cluster) {
  return std::make_shared<node_log_feed>(node, cluster);
}

} // namespace montana
