#pragma once
// API objects arrive as JSON. They are read into the same small tree the
// manifest files are read into (manifests/yaml_tree.h), so an object from
// the API server is checked by exactly the rules of a manifest document.
//
// A list of 100,000 objects is never held as one tree: each element of the
// top-level "items" array can be handed over as its own document as soon as
// it is complete.

#include <functional>
#include <stdexcept>
#include <string_view>

#include "manifests/yaml_tree.h"

namespace socklb {

class JsonSyntaxError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses one JSON value. Throws JsonSyntaxError.
YamlDocumentPtr load_json_document(std::string_view text);

// Parses a Kubernetes list ({"metadata": ..., "items": [...]}): each item
// goes to `item` as its own document, in order; the returned document is the
// list without its items. Throws JsonSyntaxError (items before the error
// have been handed over).
YamlDocumentPtr load_json_list(std::string_view text, const std::function<void(YamlDocumentPtr)>& item);

}  // namespace socklb
