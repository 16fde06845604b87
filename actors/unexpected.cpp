#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

namespace montana {

namespace {

/// Keeps a flood of garbage from turning into a flood of log lines.
class drop_log {
public:
  explicit drop_log(std::string tag) : tag_(std::move(tag)) {}

  void note(const std::string& what) {
    auto now = std::chrono::steady_clock::now();
    ++dropped_;
    if (logged_once_ && now - last_ < std::chrono::seconds{10})
      return;
    spdlog::warn("[{}] dropped {} ({} dropped since last report)", tag_, what, dropped_);
    logged_once_ = true;
    last_ = now;
    dropped_ = 0;
  }

private:
  std::string tag_;
  bool logged_once_ = false;
  std::chrono::steady_clock::time_point last_;
  uint64_t dropped_ = 0;
};

} // namespace

void drop_unexpected(caf::scheduled_actor* self, std::string tag, actor_counters& counters) {
  auto log = std::make_shared<drop_log>(std::move(tag));
  auto* errors = &counters.errors;
  self->set_default_handler([log, errors](caf::scheduled_actor* actor,
                                          caf::message_view& x) -> caf::result<caf::message> {
    ++*errors;
    log->note("unexpected message " + x.content().stringify() + " from " +
              caf::to_string(actor->current_sender()));
    return caf::sec::unexpected_message;
  });
  self->set_error_handler([log, self, errors](caf::error& err) {
    ++*errors;
    log->note("error " + self->system().render(err));
  });
}

} // namespace montana
