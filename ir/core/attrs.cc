#include "ir/core/attrs.h"

#include <sstream>

#include "ir/core/dtype.h"

namespace kiln {

Attrs::Attrs(const google::protobuf::RepeatedPtrField<proto::Attribute>& list) {
  for (const auto& a : list) map_[a.name()] = a;
}

const proto::Attribute* Attrs::Find(const std::string& name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t Attrs::GetInt(const std::string& name, int64_t fallback) const {
  const auto* a = Find(name);
  if (!a) return fallback;
  if (a->value_case() == proto::Attribute::kI) return a->i();
  if (a->value_case() == proto::Attribute::kF) return static_cast<int64_t>(a->f());
  return fallback;
}

float Attrs::GetFloat(const std::string& name, float fallback) const {
  const auto* a = Find(name);
  if (!a) return fallback;
  if (a->value_case() == proto::Attribute::kF) return a->f();
  if (a->value_case() == proto::Attribute::kI) return static_cast<float>(a->i());
  return fallback;
}

std::string Attrs::GetString(const std::string& name, const std::string& fallback) const {
  const auto* a = Find(name);
  return a && a->value_case() == proto::Attribute::kS ? a->s() : fallback;
}

std::vector<int64_t> Attrs::GetInts(const std::string& name, const std::vector<int64_t>& fallback) const {
  const auto* a = Find(name);
  if (!a) return fallback;
  if (a->value_case() == proto::Attribute::kInts) return {a->ints().values().begin(), a->ints().values().end()};
  if (a->value_case() == proto::Attribute::kI) return {a->i()};
  return fallback;
}

std::vector<float> Attrs::GetFloats(const std::string& name, const std::vector<float>& fallback) const {
  const auto* a = Find(name);
  if (!a) return fallback;
  if (a->value_case() == proto::Attribute::kFloats) return {a->floats().values().begin(), a->floats().values().end()};
  if (a->value_case() == proto::Attribute::kF) return {a->f()};
  return fallback;
}

std::vector<std::string> Attrs::GetStrings(const std::string& name, const std::vector<std::string>& fallback) const {
  const auto* a = Find(name);
  if (a && a->value_case() == proto::Attribute::kStrings)
    return {a->strings().values().begin(), a->strings().values().end()};
  if (a && a->value_case() == proto::Attribute::kS) return {a->s()};
  return fallback;
}

const proto::Tensor* Attrs::GetTensor(const std::string& name) const {
  const auto* a = Find(name);
  return a && a->value_case() == proto::Attribute::kT ? &a->t() : nullptr;
}

void Attrs::SetInt(const std::string& name, int64_t v) {
  proto::Attribute a;
  a.set_name(name);
  a.set_i(v);
  map_[name] = a;
}
void Attrs::SetStrings(const std::string& name, const std::vector<std::string>& v) {
  proto::Attribute a;
  a.set_name(name);
  for (const std::string& x : v) a.mutable_strings()->add_values(x);
  map_[name] = a;
}
void Attrs::SetFloat(const std::string& name, float v) {
  proto::Attribute a;
  a.set_name(name);
  a.set_f(v);
  map_[name] = a;
}
void Attrs::SetString(const std::string& name, const std::string& v) {
  proto::Attribute a;
  a.set_name(name);
  a.set_s(v);
  map_[name] = a;
}
void Attrs::SetInts(const std::string& name, const std::vector<int64_t>& v) {
  proto::Attribute a;
  a.set_name(name);
  for (int64_t x : v) a.mutable_ints()->add_values(x);
  map_[name] = a;
}
void Attrs::SetFloats(const std::string& name, const std::vector<float>& v) {
  proto::Attribute a;
  a.set_name(name);
  for (float x : v) a.mutable_floats()->add_values(x);
  map_[name] = a;
}
void Attrs::SetTensor(const std::string& name, const proto::Tensor& v) {
  proto::Attribute a;
  a.set_name(name);
  *a.mutable_t() = v;
  map_[name] = a;
}

void Attrs::ToProto(google::protobuf::RepeatedPtrField<proto::Attribute>* list) const {
  list->Clear();
  for (const auto& [name, a] : map_) *list->Add() = a;
}

std::string Attrs::ToString() const {
  std::ostringstream os;
  bool first = true;
  for (const auto& [name, a] : map_) {
    os << (first ? "" : ", ") << name << "=";
    first = false;
    switch (a.value_case()) {
      case proto::Attribute::kI: os << a.i(); break;
      case proto::Attribute::kF: os << a.f(); break;
      case proto::Attribute::kS: os << '"' << a.s() << '"'; break;
      case proto::Attribute::kInts: {
        os << "[";
        for (int i = 0; i < a.ints().values_size(); ++i) os << (i ? ", " : "") << a.ints().values(i);
        os << "]";
        break;
      }
      case proto::Attribute::kFloats: {
        os << "[";
        for (int i = 0; i < a.floats().values_size(); ++i) os << (i ? ", " : "") << a.floats().values(i);
        os << "]";
        break;
      }
      case proto::Attribute::kStrings: {
        os << "[";
        for (int i = 0; i < a.strings().values_size(); ++i)
          os << (i ? ", " : "") << '"' << a.strings().values(i) << '"';
        os << "]";
        break;
      }
      case proto::Attribute::kT:
        os << "tensor<" << DTypeName(a.t().dtype()) << DimsToString({a.t().dims().begin(), a.t().dims().end()}) << ">";
        break;
      default: os << "?";
    }
  }
  return os.str();
}

}  // namespace kiln
