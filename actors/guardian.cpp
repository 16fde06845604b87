#include "actors/guardian.hpp"

#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

namespace montana {

namespace {

struct member {
  std::string role;
  std::string name;
  caf::actor actor;

  std::string text() const { return role + " " + name; }
  /// Its exit takes a duty process with it.
  bool runs_duty() const { return role == "leader" || role == "supervisor"; }
};

/// One health round: answers once every member answered or timed out.
class health_round {
public:
  health_round(caf::response_promise rp, size_t members) : rp_(std::move(rp)), left_(members) {
    report_.members = members;
    if (left_ == 0)
      rp_.deliver(report_);
  }

  void answered() { done(); }

  void silent(std::string what) {
    report_.silent.push_back(std::move(what));
    done();
  }

private:
  void done() {
    if (--left_ == 0)
      rp_.deliver(std::move(report_));
  }

  caf::response_promise rp_;
  size_t left_;
  health_report report_;
};

struct guardian_state {
  static inline const char* name = "guardian";

  caf::event_based_actor* self;
  guardian_params params;
  std::vector<member> members;
  /// Why the node failed; empty while it has not.
  std::string failure;
  /// Raised whenever a member went while the node fails.
  co::signal gone;
  actor_counters counters;
  co::scope coros; // last: suspended frames go before what they use

  explicit guardian_state(caf::event_based_actor* self) : self(self), coros(self) {}

  std::string tag() const { return params.self + " guardian"; }

  void join(std::string role, std::string name, caf::actor actor) {
    if (!failure.empty()) {
      // Joined a node that already failed: it goes like the others.
      self->send_exit(actor, caf::exit_reason::user_shutdown);
      return;
    }
    // An actor that is already gone is reported at once (down_msg), so a crash between spawn
    // and join is not missed.
    self->monitor(actor);
    members.push_back(member{std::move(role), std::move(name), std::move(actor)});
  }

  void on_down(const caf::down_msg& msg) {
    auto i = std::find_if(members.begin(), members.end(),
                          [&](const member& m) { return m.actor.address() == msg.source; });
    if (i == members.end())
      return;
    auto what = i->text() + " exited" +
                (msg.reason ? ": " + self->system().render(msg.reason) : std::string{" normally"});
    members.erase(i);
    if (failure.empty())
      fail(coros, std::move(what));
    else
      gone.notify();
  }

  bool duties_left() const {
    return std::any_of(members.begin(), members.end(),
                       [](const member& m) { return m.runs_duty(); });
  }

  /// Fails the node: the duties' actors first, then the rest, then the owner is told.
  co::task fail(co::scope& coros, std::string why) {
    failure = std::move(why);
    ++counters.errors;
    spdlog::error("[{}] node failed: {}; stopping its duties and leaving the cluster", params.self,
                  failure);
    for (const auto& m : members)
      if (m.runs_duty())
        self->send_exit(m.actor, caf::exit_reason::user_shutdown);
    auto deadline = self->clock().now() + params.duty_exit_bound;
    while (duties_left() && self->clock().now() < deadline) {
      gone.reset();
      co_await gone.wait(coros, deadline - self->clock().now());
    }
    if (duties_left())
      spdlog::error("[{}] a duty's actors did not exit within {} ms; leaving anyway", params.self,
                    params.duty_exit_bound.count());
    for (const auto& m : members)
      self->send_exit(m.actor, caf::exit_reason::user_shutdown);
    if (params.failed)
      params.failed(failure);
  }

  /// Asks every member at once: a round takes as long as its slowest member, at most `bound`.
  void health(caf::response_promise rp, caf::timespan bound) {
    if (!failure.empty()) {
      rp.deliver(health_report{members.size(), {}, failure});
      return;
    }
    auto round = std::make_shared<health_round>(std::move(rp), members.size());
    for (const auto& m : members)
      self->request(m.actor, bound, inspect_atom::value)
          .then([round](const actor_info&) { round->answered(); },
                [round, what = m.text(), sys = &self->system()](const caf::error& err) {
                  round->silent(what + ": " + sys->render(err));
                });
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "guardian", counters);
    std::string list;
    for (const auto& m : members)
      list += (list.empty() ? "" : ", ") + m.text();
    out.state = {{"supervises", list.empty() ? "nobody" : list},
                 {"node", failure.empty() ? "healthy" : "failed: " + failure}};
    return out;
  }
};

} // namespace

caf::actor spawn_guardian(caf::actor_system& sys, guardian_params params) {
  return sys.spawn(
      [](caf::stateful_actor<guardian_state>* self, guardian_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.tag(), st.counters);
        self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
        return counted(
            st.counters,
            [self](register_atom, std::string& role, std::string& name, caf::actor& actor) {
              self->state.join(std::move(role), std::move(name), std::move(actor));
            },
            [self](health_atom, caf::timespan bound) {
              auto rp = self->make_response_promise();
              self->state.health(rp, bound);
              return rp;
            },
            [self](inspect_atom) { return self->state.info(); });
      },
      std::move(params));
}

} // namespace montana
