#include "manifests/yaml_tree.h"

#include <yaml.h>

#include <map>

namespace socklb {
namespace {

// yaml-cpp's null spellings, for a plain untagged scalar; an empty value
// (`key:`) is one too.
bool is_null_text(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// Owns a libyaml parser or event for the length of a scope.
struct Parser {
  yaml_parser_t p;
  Parser() {
    if (!yaml_parser_initialize(&p)) throw std::bad_alloc();
  }
  ~Parser() { yaml_parser_delete(&p); }
};

struct Event {
  yaml_event_t e;
  ~Event() { yaml_event_delete(&e); }
};

std::string describe(const yaml_parser_t& p) {
  std::string out = p.problem ? p.problem : "cannot be parsed";
  if (p.context) out = std::string(p.context) + ": " + out;
  return out;
}

}  // namespace

const YamlNode* YamlNode::find(std::string_view key) const {
  if (type != Type::Map) return nullptr;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2)
    if (children[i]->type == Type::Scalar && children[i]->scalar == key) return children[i + 1];
  return nullptr;
}

class YamlTreeBuilder {
 public:
  YamlDocumentPtr build(std::string_view text) {
    Parser parser;
    yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    auto doc = std::make_shared<YamlDocument>();
    doc_ = doc.get();
    for (;;) {
      Event event;
      if (!yaml_parser_parse(&parser.p, &event.e))
        throw YamlSyntaxError(describe(parser.p), static_cast<int>(parser.p.problem_mark.line));
      const auto& e = event.e;
      int line = static_cast<int>(e.start_mark.line);
      switch (e.type) {
        case YAML_SCALAR_EVENT: {
          YamlNode& n = add(line, e.data.scalar.anchor);
          n.scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
          n.plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !e.data.scalar.tag;
          n.type = n.plain && is_null_text(n.scalar) ? YamlNode::Type::Null : YamlNode::Type::Scalar;
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
          open(add(line, nullptr), YamlNode::Type::Sequence, e.data.sequence_start.anchor);
          break;
        case YAML_MAPPING_START_EVENT:
          open(add(line, nullptr), YamlNode::Type::Map, e.data.mapping_start.anchor);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          // anchored only once complete: an alias inside its own node would make a cycle
          if (!open_.back().anchor.empty()) anchors_[open_.back().anchor] = open_.back().node;
          open_.pop_back();
          break;
        case YAML_ALIAS_EVENT: {
          auto it = anchors_.find(reinterpret_cast<const char*>(e.data.alias.anchor));
          if (it == anchors_.end())
            throw YamlSyntaxError("the alias *" + std::string(reinterpret_cast<const char*>(e.data.alias.anchor)) +
                                      " names no anchor defined before it",
                                  line);
          attach(it->second);
          break;
        }
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
          return doc;  // only the first document, as YAML::Load
        default:
          break;
      }
    }
  }

 private:
  YamlNode& add(int line, const yaml_char_t* anchor) {
    YamlNode& n = doc_->nodes_.emplace_back();
    n.line = line;
    if (anchor) anchors_[reinterpret_cast<const char*>(anchor)] = &n;  // a later anchor of the same name wins
    attach(&n);
    return n;
  }

  void attach(const YamlNode* n) {
    if (open_.empty()) doc_->root_ = n;
    else open_.back().node->children.push_back(n);
  }

  void open(YamlNode& n, YamlNode::Type type, const yaml_char_t* anchor) {
    n.type = type;
    open_.push_back({&n, anchor ? reinterpret_cast<const char*>(anchor) : ""});
  }

  struct Open {
    YamlNode* node;
    std::string anchor;
  };

  YamlDocument* doc_ = nullptr;
  std::vector<Open> open_;  // the collections being filled, innermost last
  std::map<std::string, const YamlNode*, std::less<>> anchors_;
};

YamlDocumentPtr load_yaml_document(std::string_view text) { return YamlTreeBuilder().build(text); }

}  // namespace socklb
