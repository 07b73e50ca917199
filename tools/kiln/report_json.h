// JSON of the kiln command's reports (tools/kiln/reports.proto), printed by protobuf.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace kiln::cli {

/// `message` as one JSON object with the .proto field names and every non-optional field
/// (zeros included); indented over several lines, or on one line. Ends with a newline.
std::string ReportJson(const google::protobuf::Message& message, bool indented);

}  // namespace kiln::cli
