#include "actors/json_scan.hpp"

#include <cstring>
#include <stdexcept>

namespace montana {

namespace {

constexpr uint64_t fnv_offset = 14695981039346656037ull;
constexpr uint64_t fnv_prime = 1099511628211ull;

/// Thrown at the first error; `at` is where it was found.
struct scan_error {
  const char* what;
  const char* at;
};

bool digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Appends code point `cp` as UTF-8.
void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// The four hex digits at `p` as a number (already checked by the scanner).
unsigned hex4(const char* p) {
  unsigned v = 0;
  for (int i = 0; i < 4; ++i)
    v = v * 16 + static_cast<unsigned>(hex_value(p[i]));
  return v;
}

/// The content of a checked JSON string literal (quotes included in `raw`), escapes resolved.
std::string decode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = raw[++i];
    switch (e) {
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      unsigned cp = hex4(raw.data() + i + 1);
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) { // a checked pair: "\uD8xx\uDCxx"
        unsigned low = hex4(raw.data() + i + 3);
        i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      append_utf8(out, cp);
      break;
    }
    default: // '"', '\\', '/'
      out += e;
    }
  }
  return out;
}

class scanner {
public:
  explicit scanner(std::string_view text)
      : begin_{text.data()}, p_{text.data()}, end_{text.data() + text.size()} {}

  json_scan run() {
    json_scan out;
    try {
      skip_ws();
      if (p_ == end_)
        fail("empty text");
      if (*p_ == '{') {
        top_object(out);
        out.kind = json_scan::shape::object;
      } else {
        value(0);
        out.kind = json_scan::shape::other;
      }
      skip_ws();
      if (p_ != end_)
        fail("text after the end of the value");
    } catch (const scan_error& e) {
      out = json_scan{};
      out.error = where(e.at) + e.what;
    }
    return out;
  }

private:
  [[noreturn]] void fail(const char* what) const { throw scan_error{what, p_}; }

  std::string where(const char* at) const {
    std::size_t line = 1;
    const char* line_start = begin_;
    for (const char* q = begin_; q < at; ++q)
      if (*q == '\n') {
        ++line;
        line_start = q + 1;
      }
    return "line " + std::to_string(line) + " column " +
           std::to_string(static_cast<std::size_t>(at - line_start) + 1) + ": ";
  }

  void eat(char c) { hash_ = (hash_ ^ static_cast<uint8_t>(c)) * fnv_prime; }

  void eat(const char* from, const char* to) {
    for (; from < to; ++from)
      eat(*from);
  }

  /// The characters of a string run, eight at a time (most of a users.json is string text);
  /// the fold after each multiplication carries the high bits' changes down.
  void eat_run(const char* from, const char* to) {
    for (; to - from >= 8; from += 8) {
      uint64_t word;
      std::memcpy(&word, from, 8);
      hash_ = (hash_ ^ word) * fnv_prime;
      hash_ ^= hash_ >> 32;
    }
    eat(from, to);
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  void expect(char c, const char* what) {
    skip_ws();
    if (p_ == end_ || *p_ != c)
      fail(p_ == end_ ? "unexpected end of text" : what);
    eat(c);
    ++p_;
  }

  void top_object(json_scan& out) {
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"')
        fail(p_ == end_ ? "unexpected end of text" : "expected a string key");
      const char* key_start = p_;
      bool escaped = string();
      std::string_view raw_key{key_start, static_cast<std::size_t>(p_ - key_start)};
      expect(':', "expected ':'");
      skip_ws();
      hash_ = fnv_offset;
      const char* value_start = p_;
      value(1);
      json_member m;
      m.key = escaped ? decode(raw_key) : std::string{raw_key.substr(1, raw_key.size() - 2)};
      m.raw_key = raw_key;
      m.value = {value_start, static_cast<std::size_t>(p_ - value_start)};
      m.digest = hash_;
      out.members.push_back(std::move(m));
      skip_ws();
      if (p_ == end_)
        fail("unexpected end of text");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return;
      }
      fail("expected ',' or '}'");
    }
  }

  void push(char container, std::size_t depth) {
    if (stack_.size() + depth >= json_max_depth)
      fail("nested too deeply");
    stack_.push_back(container);
  }

  void member_key() {
    skip_ws();
    if (p_ == end_ || *p_ != '"')
      fail(p_ == end_ ? "unexpected end of text" : "expected a string key");
    string();
    expect(':', "expected ':'");
  }

  /// One value at `p_`, nested `depth` containers deep; containers without recursion.
  void value(std::size_t depth) {
    stack_.clear();
    for (;;) {
      skip_ws();
      if (p_ == end_)
        fail("unexpected end of text");
      const char c = *p_;
      bool opened = false;
      switch (c) {
      case '{':
        eat(c);
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == '}') {
          eat('}');
          ++p_;
        } else {
          push('{', depth);
          member_key();
          opened = true;
        }
        break;
      case '[':
        eat(c);
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == ']') {
          eat(']');
          ++p_;
        } else {
          push('[', depth);
          opened = true;
        }
        break;
      case '"':
        string();
        break;
      case 't':
        literal("true");
        break;
      case 'f':
        literal("false");
        break;
      case 'n':
        literal("null");
        break;
      default:
        if (c == '-' || digit(c))
          number();
        else
          fail("unexpected character");
      }
      if (opened)
        continue;
      // A value ended: close what it ends, or go on to the next element.
      for (;;) {
        if (stack_.empty())
          return;
        skip_ws();
        if (p_ == end_)
          fail("unexpected end of text");
        const char top = stack_.back();
        if (*p_ == ',') {
          eat(',');
          ++p_;
          if (top == '{')
            member_key();
          break;
        }
        if (*p_ == (top == '{' ? '}' : ']')) {
          eat(*p_);
          ++p_;
          stack_.pop_back();
          continue;
        }
        fail(top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }

  void literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view{p_, word.size()} != word)
      fail("unexpected character");
    eat(p_, p_ + word.size());
    p_ += word.size();
  }

  void number() {
    const char* start = p_;
    if (*p_ == '-')
      ++p_;
    if (p_ < end_ && *p_ == '0') {
      ++p_;
    } else if (p_ < end_ && digit(*p_)) {
      while (p_ < end_ && digit(*p_))
        ++p_;
    } else {
      fail("invalid number");
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_))
        fail("invalid number");
      while (p_ < end_ && digit(*p_))
        ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (p_ == end_ || !digit(*p_))
        fail("invalid number");
      while (p_ < end_ && digit(*p_))
        ++p_;
    }
    eat(start, p_);
  }

  /// Four hex digits after "\u"; returns their value.
  unsigned unicode_escape() {
    if (end_ - p_ < 4)
      fail("unexpected end of text");
    for (int i = 0; i < 4; ++i)
      if (hex_value(p_[i]) < 0)
        fail("invalid \\u escape");
    unsigned v = hex4(p_);
    eat(p_, p_ + 4);
    p_ += 4;
    return v;
  }

  /// One multi-byte UTF-8 sequence at `p_` (RFC 3629: no overlong forms, no surrogates).
  void utf8() {
    const auto b0 = static_cast<uint8_t>(*p_);
    int length;
    uint8_t low = 0x80, high = 0xBF; // bounds of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0)
        low = 0xA0;
      else if (b0 == 0xED)
        high = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0)
        low = 0x90;
      else if (b0 == 0xF4)
        high = 0x8F;
    } else {
      fail("invalid UTF-8");
    }
    if (end_ - p_ < length)
      fail("invalid UTF-8");
    for (int i = 1; i < length; ++i) {
      const auto b = static_cast<uint8_t>(p_[i]);
      if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF))
        fail("invalid UTF-8");
    }
    eat(p_, p_ + length);
    p_ += length;
  }

  /// A string literal at `p_`; returns whether it holds escapes.
  bool string() {
    eat('"');
    ++p_;
    bool escaped = false;
    for (;;) {
      const char* run = p_;
      while (p_ < end_) {
        const auto c = static_cast<uint8_t>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++p_;
      }
      eat_run(run, p_);
      if (p_ == end_)
        fail("unexpected end of text in a string");
      const auto c = static_cast<uint8_t>(*p_);
      if (c == '"') {
        eat('"');
        ++p_;
        return escaped;
      }
      if (c < 0x20)
        fail("control character in a string");
      if (c >= 0x80) {
        utf8();
        continue;
      }
      escaped = true; // a backslash
      eat('\\');
      ++p_;
      if (p_ == end_)
        fail("unexpected end of text in a string");
      const char e = *p_;
      switch (e) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        eat(e);
        ++p_;
        break;
      case 'u': {
        eat(e);
        ++p_;
        unsigned cp = unicode_escape();
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          fail("unpaired surrogate escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
            fail("unpaired surrogate escape");
          eat(p_, p_ + 2);
          p_ += 2;
          unsigned second = unicode_escape();
          if (second < 0xDC00 || second > 0xDFFF)
            fail("unpaired surrogate escape");
        }
        break;
      }
      default:
        fail("invalid escape");
      }
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  uint64_t hash_ = fnv_offset;
  std::vector<char> stack_;
};

} // namespace

json_scan scan_json(std::string_view text) {
  return scanner{text}.run();
}

bool json_path(std::string_view path) {
  return path.ends_with(".json");
}

} // namespace montana
