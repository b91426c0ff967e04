#include "kube/json_tree.h"

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace socklb {

// nlohmann's SAX interface builds YamlNodes directly: no nlohmann::json tree
// in between (for a 100,000-service list it would be the largest thing in the
// process, if only for a moment).
class JsonTreeBuilder {
 public:
  using json = nlohmann::json;
  using ItemFn = std::function<void(YamlDocumentPtr)>;

  explicit JsonTreeBuilder(const ItemFn* items) : items_(items) {}

  YamlDocumentPtr parse(std::string_view text) {
    top_ = std::make_shared<YamlDocument>();
    doc_ = top_.get();
    if (!json::sax_parse(text.begin(), text.end(), this)) throw JsonSyntaxError(error_);
    return top_;
  }

  bool null() {
    add(YamlNode::Type::Null).scalar = "null";
    return true;
  }
  bool boolean(bool value) { return scalar(value ? "true" : "false", true); }
  bool number_integer(json::number_integer_t value) { return scalar(std::to_string(value), true); }
  bool number_unsigned(json::number_unsigned_t value) { return scalar(std::to_string(value), true); }
  bool number_float(json::number_float_t, const json::string_t& text) { return scalar(text, true); }
  bool string(json::string_t& value) { return scalar(std::move(value), false); }
  bool binary(json::binary_t&) { return fail("binary values are not JSON"); }

  bool start_object(std::size_t) {
    if (starts_item()) begin_item();
    open(YamlNode::Type::Map);
    return true;
  }
  bool key(json::string_t& key) {
    if (depth_ == 1 && doc_ == top_.get()) top_key_ = key;
    YamlNode& node = new_node(YamlNode::Type::Scalar);
    node.plain = true;
    node.scalar = std::move(key);
    stack_.back()->children.push_back(&node);
    return true;
  }
  bool end_object() { return close(); }

  bool start_array(std::size_t) {
    if (items_ && depth_ == 1 && doc_ == top_.get() && top_key_ == "items") in_items_ = true;
    open(YamlNode::Type::Sequence);
    return true;
  }
  bool end_array() {
    if (in_items_ && depth_ == 2 && doc_ == top_.get()) in_items_ = false;
    return close();
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = "invalid JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

 private:
  // The next object opens an element of the top-level items array.
  bool starts_item() const { return in_items_ && depth_ == 2 && doc_ == top_.get(); }

  void begin_item() {
    item_ = std::make_shared<YamlDocument>();
    doc_ = item_.get();
    saved_stack_ = std::move(stack_);
    stack_.clear();
  }

  bool scalar(std::string text, bool plain) {
    YamlNode& node = add(YamlNode::Type::Scalar);
    node.scalar = std::move(text);
    node.plain = plain;
    return true;
  }

  YamlNode& new_node(YamlNode::Type type) {
    YamlNode& node = doc_->nodes_.emplace_back();
    node.type = type;
    return node;
  }

  // A value: the document's root, an item of a sequence, or the value of the key just added.
  YamlNode& add(YamlNode::Type type) {
    YamlNode& node = new_node(type);
    if (stack_.empty()) doc_->root_ = &node;
    else stack_.back()->children.push_back(&node);
    return node;
  }

  void open(YamlNode::Type type) {
    stack_.push_back(&add(type));
    ++depth_;
  }

  bool close() {
    stack_.pop_back();
    --depth_;
    if (doc_ == item_.get() && stack_.empty()) {
      (*items_)(std::move(item_));
      item_.reset();
      doc_ = top_.get();
      stack_ = std::move(saved_stack_);
      saved_stack_.clear();
    }
    return true;
  }

  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  const ItemFn* items_;
  std::shared_ptr<YamlDocument> top_, item_;
  YamlDocument* doc_ = nullptr;
  std::vector<YamlNode*> stack_, saved_stack_;
  int depth_ = 0;
  std::string top_key_;
  bool in_items_ = false;
  std::string error_;
};

YamlDocumentPtr load_json_document(std::string_view text) { return JsonTreeBuilder(nullptr).parse(text); }

YamlDocumentPtr load_json_list(std::string_view text, const std::function<void(YamlDocumentPtr)>& item) {
  return JsonTreeBuilder(&item).parse(text);
}

}  // namespace socklb
