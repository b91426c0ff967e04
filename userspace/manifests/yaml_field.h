#pragma once
// Typed, located access to a YAML node: every accessor either returns a
// valid value or throws FieldError naming the field path and the line, so
// the parsers read like the Kubernetes API reference.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "manifests/yaml_tree.h"

namespace socklb {

class FieldError : public std::runtime_error {
 public:
  FieldError(std::string field, int line, const std::string& message)
      : std::runtime_error(message), field_(std::move(field)), line_(line) {}
  const std::string& field() const { return field_; }
  int line() const { return line_; }

 private:
  std::string field_;
  int line_;
};

class Field {
 public:
  // node: nullptr for an absent field. line_offset: the line of the
  // document's first line in its file, minus one. The document must outlive
  // the Field (the parsers use Fields only while their document is loaded).
  Field(const YamlNode* node, std::string path, int line_offset, int fallback_line = 0);

  bool present() const;  // defined and not null
  const std::string& path() const { return path_; }
  int line() const;

  Field operator[](const std::string& key) const;  // absent child when missing
  std::vector<Field> items() const;                 // a sequence; empty when absent
  std::vector<std::pair<std::string, Field>> entries() const;  // a mapping; empty when absent

  std::string str() const;  // required
  std::string str_or(const std::string& fallback) const;
  int64_t integer(int64_t min, int64_t max) const;  // required
  bool boolean_or(bool fallback) const;
  bool is_number() const;  // an unquoted integer scalar (for IntOrString)
  std::vector<std::string> strings() const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  void require_kind(YamlNode::Type type, const char* what) const;

  const YamlNode* node_;
  std::string path_;
  int line_offset_;
  int fallback_line_;
};

}  // namespace socklb
