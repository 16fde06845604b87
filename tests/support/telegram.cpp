#include "support/telegram.hpp"

#include "support/files.hpp"
#include "support/http_exchange.hpp"
#include "support/spawn.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>

namespace montana::testing {

namespace {

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

void make_test_ca(const std::string& dir, const std::string& address) {
  auto tool = openssl_tool();
  if (tool.empty())
    throw std::runtime_error("no openssl tool for the stand-in's test CA (deploy/install-deps.sh)");
  if (!write_file(dir + "/server.ext",
                  "subjectAltName=IP:" + address +
                      ",DNS:api.telegram.test\n"
                      "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"))
    throw std::runtime_error("cannot write " + dir + "/server.ext");
  auto ec = [](const std::string& key) {
    return std::vector<std::string>{
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key};
  };
  std::vector<std::vector<std::string>> steps;
  auto ca = std::vector<std::string>{
      tool, "req", "-x509", "-days", "2", "-subj", "/CN=montana test CA", "-out", dir + "/ca.crt"};
  auto ca_key = ec(dir + "/ca.key");
  ca.insert(ca.end(), ca_key.begin(), ca_key.end());
  steps.push_back(ca);
  auto csr = std::vector<std::string>{
      tool, "req", "-subj", "/CN=api.telegram.test", "-out", dir + "/server.csr"};
  auto server_key = ec(dir + "/server.key");
  csr.insert(csr.end(), server_key.begin(), server_key.end());
  steps.push_back(csr);
  steps.push_back({tool, "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.crt",
                   "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile",
                   dir + "/server.ext", "-out", dir + "/server.crt"});
  for (const auto& step : steps) {
    std::string problem;
    auto code = run_command(step, dir + "/openssl.out", std::chrono::seconds{30}, problem);
    if (!code || *code != 0)
      throw std::runtime_error("test CA: openssl " + step[1] +
                               " failed: " + (code ? read_file(dir + "/openssl.out") : problem));
  }
}

telegram_standin::telegram_standin(options opts, spawn_there spawn, connect_there connect)
    : opts_(std::move(opts)), connect_(std::move(connect)) {
  auto endpoint = [&](uint16_t port) { return opts_.address + ":" + std::to_string(port); };
  std::vector<std::string> argv{python,      standin_script,
                                "--token",   opts_.token,
                                "--log",     log_file(),
                                "--listen",  endpoint(opts_.http_port),
                                "--control", endpoint(opts_.control_port)};
  if (opts_.https_port != 0) {
    make_test_ca(opts_.dir, opts_.address);
    argv.insert(argv.end(), {"--tls-listen", endpoint(opts_.https_port), "--cert",
                             opts_.dir + "/server.crt", "--key", opts_.dir + "/server.key"});
  }
  auto out = opts_.dir + "/telegram.out";
  std::string problem;
  pid_ = spawn(argv, out, problem);
  if (pid_ < 0)
    throw std::runtime_error("cannot start the Telegram stand-in: " + problem);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  for (;;) {
    int fd = connect_(opts_.address, opts_.control_port, problem);
    if (fd >= 0 && http_exchange(fd, "GET", "/health", "", std::chrono::seconds{5}).status == 200)
      return;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_ || std::chrono::steady_clock::now() > deadline) {
      auto said = read_file(out);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      throw std::runtime_error("the Telegram stand-in did not come up: " + problem + "; " + said);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

telegram_standin::~telegram_standin() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string telegram_standin::api_url(bool tls) const {
  return std::string{tls ? "https://" : "http://"} + opts_.address + ":" +
         std::to_string(tls ? opts_.https_port : opts_.http_port);
}

std::string telegram_standin::ca_file() const {
  return opts_.https_port == 0 ? std::string{} : opts_.dir + "/ca.crt";
}

int64_t telegram_standin::user_says(const std::string& text, int64_t chat_id) const {
  std::string problem;
  int fd = connect_(opts_.address, opts_.control_port, problem);
  if (fd < 0)
    return -1;
  nlohmann::json body{{"text", text}, {"chat_id", chat_id}};
  auto answer = http_exchange(fd, "POST", "/inject", body.dump(), std::chrono::seconds{5});
  auto j = nlohmann::json::parse(answer.body, nullptr, false);
  return answer.status == 200 && j.is_object() ? j.value("update_id", int64_t{-1}) : -1;
}

std::vector<std::string> telegram_standin::replies() const {
  std::vector<std::string> out;
  std::istringstream lines{read_file(log_file())};
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j["event"] == "end" && j["method"] == "sendMessage" &&
        j["status"] == 200 && j["text"].is_string())
      out.push_back(j["text"].get<std::string>());
  }
  return out;
}

std::vector<poll_record>
telegram_standin::polls(const std::function<std::string(const std::string&)>& host_of) const {
  return parse_polls(read_file(log_file()), host_of, wall_us());
}

} // namespace montana::testing
