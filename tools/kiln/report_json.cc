#include "tools/kiln/report_json.h"

#include <google/protobuf/util/json_util.h>

namespace kiln::cli {

std::string ReportJson(const google::protobuf::Message& message, bool indented) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = indented;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Only a message with unknown Any types fails to print; the reports have none.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

}  // namespace kiln::cli
