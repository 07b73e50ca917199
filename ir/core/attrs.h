// Typed access to node attributes, shared by IR nodes and runtime steps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "google/protobuf/repeated_field.h"
#include "ir/core/status.h"
#include "ir/kiln.pb.h"

namespace kiln {

class Attrs {
 public:
  Attrs() = default;
  explicit Attrs(const google::protobuf::RepeatedPtrField<proto::Attribute>& list);

  bool Has(const std::string& name) const { return map_.count(name) != 0; }
  const proto::Attribute* Find(const std::string& name) const;
  const std::map<std::string, proto::Attribute>& all() const { return map_; }

  int64_t GetInt(const std::string& name, int64_t fallback) const;
  float GetFloat(const std::string& name, float fallback) const;
  std::string GetString(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> GetInts(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> GetFloats(const std::string& name, const std::vector<float>& fallback = {}) const;
  std::vector<std::string> GetStrings(const std::string& name, const std::vector<std::string>& fallback = {}) const;
  const proto::Tensor* GetTensor(const std::string& name) const;

  void SetInt(const std::string& name, int64_t v);
  void SetFloat(const std::string& name, float v);
  void SetString(const std::string& name, const std::string& v);
  void SetInts(const std::string& name, const std::vector<int64_t>& v);
  void SetFloats(const std::string& name, const std::vector<float>& v);
  void SetStrings(const std::string& name, const std::vector<std::string>& v);
  void SetTensor(const std::string& name, const proto::Tensor& v);
  void Set(const proto::Attribute& attr) { map_[attr.name()] = attr; }
  void Erase(const std::string& name) { map_.erase(name); }

  void ToProto(google::protobuf::RepeatedPtrField<proto::Attribute>* list) const;
  /// "kernel_shape=[3, 3], strides=[1, 1]" in name order.
  std::string ToString() const;

 private:
  std::map<std::string, proto::Attribute> map_;
};

}  // namespace kiln
