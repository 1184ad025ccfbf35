// A small insertion-ordered map with Python dict semantics: assigning an existing
// key keeps its position. Order matters in configs ("the later entry wins").
#pragma once

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

namespace coreai_opt {
namespace detail {

template <class K, class V>
class OrderedMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  OrderedMap() = default;
  OrderedMap(std::initializer_list<value_type> init) {
    for (const auto& kv : init) set(kv.first, kv.second);
  }

  /// Inserts or replaces; a replaced key keeps its position.
  V& set(const K& key, V value) {
    auto it = find(key);
    if (it != entries_.end()) {
      it->second = std::move(value);
      return it->second;
    }
    entries_.emplace_back(key, std::move(value));
    return entries_.back().second;
  }
  iterator find(const K& key) {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const value_type& e) { return e.first == key; });
  }
  const_iterator find(const K& key) const {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const value_type& e) { return e.first == key; });
  }
  bool contains(const K& key) const { return find(key) != entries_.end(); }
  /// Pointer to the value, or nullptr.
  const V* get(const K& key) const {
    auto it = find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool erase(const K& key) {
    auto it = find(key);
    if (it == entries_.end()) return false;
    entries_.erase(it);
    return true;
  }
  void clear() { entries_.clear(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }

  /// Equal when the same keys map to equal values in the same order.
  bool operator==(const OrderedMap& o) const { return entries_ == o.entries_; }
  bool operator!=(const OrderedMap& o) const { return !(*this == o); }

 private:
  std::vector<value_type> entries_;
};

}  // namespace detail
}  // namespace coreai_opt
