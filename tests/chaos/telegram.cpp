// The Telegram Bot API stand-in (support/telegram_standin.py) on loopback, held to Telegram's
// semantics as its own server implements them (tdlib/telegram-bot-api), and the duty program
// that long-polls it (support/telegram_duty.py), over HTTP and over HTTPS with a test CA.
#define CAF_SUITE chaos.telegram
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/guard.hpp"
#include "support/http_exchange.hpp"
#include "support/process.hpp"
#include "support/telegram.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <future>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>

using namespace montana::testing;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string conflict_text = "Conflict: terminated by other getUpdates request; make sure "
                                  "that only one bot instance is running";

int dial(const std::string& host, uint16_t port, std::string& problem) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    problem = std::string{"connect: "} + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// The stand-in on a private loopback address, HTTP and HTTPS.
struct fixture : scratch {
  std::string address;
  std::unique_ptr<telegram_standin> bot;

  fixture() : scratch{"telegram"} {
    std::random_device rd;
    address = "127." + std::to_string(1 + rd() % 250) + "." + std::to_string(1 + rd() % 250) + ".1";
    telegram_standin::options o;
    o.dir = dir;
    o.address = address;
    o.http_port = free_port(address);
    o.https_port = free_port(address);
    o.control_port = free_port(address);
    try {
      bot = std::make_unique<telegram_standin>(
          o,
          [](const std::vector<std::string>& argv, const std::string& out, std::string& problem) {
            auto pid = spawn_child(argv, "/dev/null", out, problem);
            if (pid > 0)
              live_children.push_back(pid);
            return pid;
          },
          [](const std::string& host, uint16_t port, std::string& problem) {
            return dial(host, port, problem);
          });
    } catch (const std::exception& e) {
      GUARD_FAIL(e.what());
    }
  }

  /// Calls `method` with `params` as JSON; the answer's status and parsed body.
  std::pair<int, json> call(const std::string& method, const json& params = json::object(),
                            const std::string& token = "") {
    std::string problem;
    auto port = std::stoi(bot->api_url().substr(bot->api_url().rfind(':') + 1));
    int fd = dial(address, static_cast<uint16_t>(port), problem);
    if (fd < 0)
      GUARD_FAIL(problem);
    auto answer =
        http_exchange(fd, "POST", "/bot" + (token.empty() ? bot->token() : token) + "/" + method,
                      params.dump(), 60s);
    return {answer.status, json::parse(answer.body, nullptr, false)};
  }

  /// The log's lines with event "end" and method `method`.
  std::vector<json> ended(const std::string& method) const {
    std::vector<json> out;
    std::istringstream lines{read_file(bot->log_file())};
    for (std::string line; std::getline(lines, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j["event"] == "end" && j["method"] == method)
        out.push_back(j);
    }
    return out;
  }

  /// Starts the duty program as node `node`, polling with `poll_timeout` seconds.
  pid_t duty(const std::string& node, bool tls, bool with_ca = true, int poll_timeout = 5) {
    std::vector<std::string> env{"MONTANA_TELEGRAM_API=" + bot->api_url(tls),
                                 "MONTANA_TELEGRAM_TOKEN=" + bot->token(),
                                 "MONTANA_TELEGRAM_POLL_TIMEOUT=" + std::to_string(poll_timeout),
                                 "MONTANA_NODE_NAME=" + node, "MONTANA_TERM=1"};
    if (tls && with_ca)
      env.push_back("MONTANA_TELEGRAM_CA=" + bot->ca_file());
    // The test's process helper runs montana-actors; the duty goes through env(1).
    std::vector<std::string> argv{find_tool("env")};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {python, duty_script});
    std::string problem;
    auto pid = spawn_child(argv, "/dev/null", path(node + ".duty.out"), problem);
    if (pid < 0)
      GUARD_FAIL(problem);
    live_children.push_back(pid);
    return pid;
  }

  void end(pid_t pid, int sig) {
    ::kill(pid, sig);
    ::waitpid(pid, nullptr, 0);
    std::erase(live_children, pid);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(telegram_tests, fixture)

CAF_TEST(getMe names the bot; a wrong token and an unknown method are refused as Telegram does) {
  auto [status, me] = call("getMe");
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(me["ok"], true);
  CAF_CHECK_EQUAL(me["result"]["is_bot"], true);
  CAF_CHECK_EQUAL(me["result"]["username"], "montana_standin_bot");
  auto [bad_status, bad] = call("getMe", json::object(), "1:wrong");
  CAF_CHECK_EQUAL(bad_status, 401);
  CAF_CHECK_EQUAL(bad, (json{{"ok", false}, {"error_code", 401}, {"description", "Unauthorized"}}));
  auto [unknown_status, unknown] = call("getNothing");
  CAF_CHECK_EQUAL(unknown_status, 404);
  CAF_CHECK_EQUAL(unknown["description"], "Not Found");
}

CAF_TEST(getUpdates delivers by offset and limit and confirms what is below the offset) {
  auto first = bot->user_says("one");
  GUARD_REQUIRE(first > 0);
  bot->user_says("two");
  bot->user_says("three");
  auto [status, some] = call("getUpdates", {{"limit", 2}});
  CAF_CHECK_EQUAL(status, 200);
  GUARD_REQUIRE(some["result"].size() == 2u);
  CAF_CHECK_EQUAL(some["result"][0]["update_id"], first);
  CAF_CHECK_EQUAL(some["result"][0]["message"]["text"], "one");
  CAF_CHECK_EQUAL(some["result"][1]["message"]["chat"]["id"], 4242);
  // Not confirmed yet: the same request gets the same updates (within 0.5 s of the last call
  // with this offset Telegram's throttle gives limit 1).
  auto [again_status, again] = call("getUpdates", {{"limit", 2}});
  CAF_CHECK_EQUAL(again["result"][0]["update_id"], first);
  // An offset confirms every update below it.
  auto [rest_status, rest] = call("getUpdates", {{"offset", first + 2}});
  GUARD_REQUIRE(rest["result"].size() == 1u);
  CAF_CHECK_EQUAL(rest["result"][0]["message"]["text"], "three");
  auto [none_status, none] = call("getUpdates", {{"offset", first + 3}, {"timeout", 0}});
  CAF_CHECK_EQUAL(none["result"], json::array());
  // A negative offset keeps only the last updates.
  bot->user_says("four");
  bot->user_says("five");
  auto [last_status, last] = call("getUpdates", {{"offset", -1}});
  GUARD_REQUIRE(last["result"].size() == 1u);
  CAF_CHECK_EQUAL(last["result"][0]["message"]["text"], "five");
}

CAF_TEST(a long poll waits for its timeout and wakes at once for a new update) {
  auto begun = std::chrono::steady_clock::now();
  auto [status, empty] = call("getUpdates", {{"timeout", 1}});
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(empty["result"], json::array());
  CAF_CHECK_GREATER_OR_EQUAL(seconds_since(begun), 1.0);
  auto woken = std::async(std::launch::async, [&] {
    return call("getUpdates", {{"offset", 1}, {"timeout", 50}});
  });
  GUARD_REQUIRE(wait_until(
      [&] {
        auto polls = bot->polls();
        return polls.size() == 2u && polls[1].outcome == "open";
      },
      10s));
  bot->user_says("wake up");
  auto [woken_status, woken_body] = woken.get();
  CAF_CHECK_EQUAL(woken_status, 200);
  CAF_CHECK_EQUAL(woken_body["result"][0]["message"]["text"], "wake up");
  auto polls = bot->polls();
  GUARD_REQUIRE(polls.size() == 2u);
  CAF_CHECK_EQUAL(polls[1].outcome, "updates");
  // Woken long before its 50 s.
  CAF_CHECK_LESS(polls[1].end_us - polls[1].start_us, 50'000'000);
}

CAF_TEST(a second long poll ends the first with 409 Conflict and the newer one wins) {
  auto older = std::async(std::launch::async, [&] {
    return call("getUpdates", {{"timeout", 30}});
  });
  std::this_thread::sleep_for(300ms);
  auto newer = std::async(std::launch::async, [&] {
    return call("getUpdates", {{"timeout", 30}});
  });
  auto [old_status, old_body] = older.get();
  CAF_CHECK_EQUAL(old_status, 409);
  CAF_CHECK_EQUAL(old_body,
                  (json{{"ok", false}, {"error_code", 409}, {"description", conflict_text}}));
  bot->user_says("for the newer one");
  auto [new_status, new_body] = newer.get();
  CAF_CHECK_EQUAL(new_status, 200);
  CAF_CHECK_EQUAL(new_body["result"][0]["message"]["text"], "for the newer one");
  auto polls = bot->polls();
  GUARD_REQUIRE(polls.size() == 2u);
  CAF_CHECK_EQUAL(polls[0].status, 409);
  CAF_CHECK_EQUAL(polls[0].outcome, "conflict");
  // The older one ended when the newer one came.
  CAF_CHECK_GREATER_OR_EQUAL(polls[0].end_us, polls[1].start_us);
}

CAF_TEST(a further conflict within 3 s has its 409 held for 3 s) {
  auto a = std::async(std::launch::async, [&] { return call("getUpdates", {{"timeout", 30}}); });
  std::this_thread::sleep_for(200ms);
  auto b = std::async(std::launch::async, [&] { return call("getUpdates", {{"timeout", 30}}); });
  CAF_CHECK_EQUAL(a.get().first, 409); // the first conflict: answered at once
  auto c_started = std::chrono::steady_clock::now();
  auto c = std::async(std::launch::async, [&] { return call("getUpdates", {{"timeout", 30}}); });
  auto [b_status, b_body] = b.get();
  CAF_CHECK_EQUAL(b_status, 409);
  CAF_CHECK_GREATER_OR_EQUAL(seconds_since(c_started), 2.9);
  bot->user_says("end it");
  CAF_CHECK_EQUAL(c.get().first, 200);
}

CAF_TEST(sendMessage answers a Message and is logged; bad calls get the 400s of Telegram) {
  auto [status, sent] = call("sendMessage", {{"chat_id", 77}, {"text", "hello"}});
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(sent["result"]["chat"]["id"], 77);
  CAF_CHECK_EQUAL(sent["result"]["text"], "hello");
  CAF_CHECK_EQUAL(sent["result"]["from"]["is_bot"], true);
  auto [no_text_status, no_text] = call("sendMessage", {{"chat_id", 77}});
  CAF_CHECK_EQUAL(no_text_status, 400);
  CAF_CHECK_EQUAL(no_text["description"], "Bad Request: message text is empty");
  auto [no_chat_status, no_chat] = call("sendMessage", {{"text", "x"}});
  CAF_CHECK_EQUAL(no_chat["description"], "Bad Request: chat_id is empty");
  auto logged = ended("sendMessage");
  GUARD_REQUIRE(logged.size() == 3u);
  CAF_CHECK_EQUAL(logged[0]["text"], "hello");
  CAF_CHECK_EQUAL(logged[0]["status"], 200);
}

CAF_TEST(the duty polls over HTTPS with the test CA and echoes every message) {
  auto pid = duty("amsterdam", true);
  GUARD_REQUIRE(wait_until([&] { return !bot->polls().empty(); }, 20s));
  bot->user_says("ping");
  GUARD_REQUIRE(wait_until([&] { return !bot->replies().empty(); }, 20s));
  CAF_CHECK_EQUAL(bot->replies(), std::vector<std::string>{"echo: ping"});
  auto sent = ended("sendMessage");
  CAF_CHECK_EQUAL(sent.at(0)["node"], "amsterdam");
  auto polls = bot->polls();
  CAF_CHECK_EQUAL(polls[0].node, "amsterdam");
  CAF_CHECK(polls[0].poller.starts_with("amsterdam/"));
  // SIGTERM ends it at once: its open poll ends when its connection closes.
  GUARD_REQUIRE(wait_until([&] { return bot->polls().back().outcome == "open"; }, 10s));
  end(pid, SIGTERM);
  auto gone = wait_until([&] { return bot->polls().back().outcome == "gone"; }, 5s);
  CAF_CHECK(gone);
  if (!gone)
    CAF_MESSAGE("the stand-in's log:\n"
                << read_file(bot->log_file()) << "the duty:\n"
                << read_file(path("amsterdam.duty.out")));
}

CAF_TEST(a duty that does not trust the certificate never gets a poll through) {
  auto pid = duty("moscow", true, false);
  GUARD_REQUIRE(wait_until(
      [&] { return contains(read_file(path("moscow.duty.out")), "CERTIFICATE_VERIFY_FAILED"); },
      20s));
  CAF_CHECK(bot->polls().empty());
  end(pid, SIGKILL);
}

CAF_TEST(two duties polling at once show as two pollers with 409s until one is killed) {
  auto a = duty("amsterdam", false);
  GUARD_REQUIRE(wait_until([&] { return !bot->polls().empty(); }, 20s));
  auto b = duty("moscow", false);
  GUARD_REQUIRE(wait_until(
      [&] {
        int conflicts = 0;
        for (const auto& p : bot->polls())
          conflicts += p.status == 409 ? 1 : 0;
        return conflicts >= 3;
      },
      30s));
  auto killed = now_us();
  end(b, SIGKILL);
  // A killed poller's open poll ends as soon as its connection closes.
  CAF_CHECK(wait_until(
      [&] {
        for (const auto& p : bot->polls())
          if (p.node == "moscow" && p.outcome == "open")
            return false;
        return true;
      },
      5s));
  std::this_thread::sleep_for(3s);
  auto polls = bot->polls();
  auto v = judge_polls(polls, 0, now_us(), 2'000'000);
  CAF_CHECK_EQUAL(v.most_pollers, 2);
  CAF_CHECK_GREATER(v.overlap_us, 0);
  CAF_CHECK_EQUAL(v.nodes, (std::vector<std::string>{"amsterdam", "moscow"}));
  // After the kill amsterdam alone polls.
  CAF_CHECK_EQUAL(judge_polls(polls, killed + 2'000'000, now_us(), 2'000'000).overlap_us, 0);
  end(a, SIGKILL);
}

CAF_TEST_FIXTURE_SCOPE_END()
