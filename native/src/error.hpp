// Errors inside the library: one exception type carrying the C status and a one-line message.
// The C ABI (capi.cpp) turns it into a status code and umedsam_last_error().
#pragma once

#include <stdexcept>
#include <string>

#include "umedsam.h"

namespace umedsam {

class Error : public std::runtime_error {
public:
    Error(umedsam_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    umedsam_status status() const { return status_; }

private:
    umedsam_status status_;
};

// A malformed challenge case: "<file>: field '<field>': <problem>", the Python runtime's wording.
inline Error case_error(const std::string& path, const std::string& field, const std::string& problem) {
    return Error(UMEDSAM_ERR_CASE, path + ": field '" + field + "': " + problem);
}

}  // namespace umedsam
