#include "manifests/yaml_field.h"

#include <charconv>

namespace socklb {
namespace {

// A quoted "8080" is a string to Kubernetes, a plain 8080 a number.
bool is_plain(const YamlNode* node) { return node->plain; }

bool parses_as_integer(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// The YAML 1.2 core schema spellings, as Kubernetes reads them.
bool is_true_literal(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool is_false_literal(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

const char* type_name(const YamlNode* node) {
  switch (node ? node->type : YamlNode::Type::Null) {
    case YamlNode::Type::Sequence: return "a list";
    case YamlNode::Type::Map: return "a mapping";
    case YamlNode::Type::Scalar: return "a scalar";
    default: return "nothing";
  }
}

}  // namespace

Field::Field(const YamlNode* node, std::string path, int line_offset, int fallback_line)
    : node_(node), path_(std::move(path)), line_offset_(line_offset), fallback_line_(fallback_line) {}

bool Field::present() const { return node_ && node_->type != YamlNode::Type::Null; }

int Field::line() const {
  if (node_) return line_offset_ + node_->line + 1;
  return fallback_line_;
}

void Field::fail(const std::string& message) const { throw FieldError(path_, line(), message); }

void Field::require_kind(YamlNode::Type type, const char* what) const {
  if (!node_ || node_->type != type) fail(std::string("expected ") + what + ", got " + type_name(node_));
}

Field Field::operator[](const std::string& key) const {
  std::string child_path = path_.empty() ? key : path_ + "." + key;
  if (!present()) return Field(nullptr, child_path, line_offset_, line());
  require_kind(YamlNode::Type::Map, "a mapping");
  return Field(node_->find(key), child_path, line_offset_, line());
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (!present()) return out;
  require_kind(YamlNode::Type::Sequence, "a list");
  const auto& children = node_->children;
  out.reserve(children.size());
  for (std::size_t i = 0; i < children.size(); ++i)
    out.emplace_back(children[i], path_ + "[" + std::to_string(i) + "]", line_offset_, line());
  return out;
}

std::vector<std::pair<std::string, Field>> Field::entries() const {
  std::vector<std::pair<std::string, Field>> out;
  if (!present()) return out;
  require_kind(YamlNode::Type::Map, "a mapping");
  const auto& children = node_->children;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2) {
    Field key(children[i], path_, line_offset_, line());
    std::string name = key.str();
    out.emplace_back(name, Field(children[i + 1], path_ + "." + name, line_offset_, key.line()));
  }
  return out;
}

std::string Field::str() const {
  if (!present()) fail("is required");
  require_kind(YamlNode::Type::Scalar, "a string");
  const std::string& text = node_->scalar;
  int64_t ignored;
  if (is_plain(node_) && (parses_as_integer(text, ignored) || is_true_literal(text) || is_false_literal(text)))
    fail("expected a string, got " + text + " (quote it)");
  return text;
}

std::string Field::str_or(const std::string& fallback) const { return present() ? str() : fallback; }

int64_t Field::integer(int64_t min, int64_t max) const {
  if (!present()) fail("is required");
  require_kind(YamlNode::Type::Scalar, "a number");
  int64_t value = 0;
  if (!is_plain(node_) || !parses_as_integer(node_->scalar, value))
    fail("expected a number, got \"" + node_->scalar + "\"");
  if (value < min || value > max)
    fail(std::to_string(value) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
  return value;
}

bool Field::boolean_or(bool fallback) const {
  if (!present()) return fallback;
  require_kind(YamlNode::Type::Scalar, "true or false");
  const std::string& text = node_->scalar;
  if (is_plain(node_) && is_true_literal(text)) return true;
  if (is_plain(node_) && is_false_literal(text)) return false;
  fail("expected true or false, got \"" + text + "\"");
}

bool Field::is_number() const {
  int64_t ignored;
  return present() && node_->type == YamlNode::Type::Scalar && is_plain(node_) && parses_as_integer(node_->scalar, ignored);
}

std::vector<std::string> Field::strings() const {
  std::vector<std::string> out;
  for (const auto& item : items()) out.push_back(item.str());
  return out;
}

}  // namespace socklb
