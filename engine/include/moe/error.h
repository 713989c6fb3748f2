// Error type of the engine: every failure a user can cause (a bad file, a bad config, a request the model
// cannot serve) is reported as moe::Error with a message that names the file, tensor or field involved.
#pragma once

#include <stdexcept>
#include <string>

namespace moe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace moe
