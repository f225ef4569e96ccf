// The .npy format (numpy's NEP 1): header parsing with validation, typed access, and writing.
// Only plain numeric dtypes are accepted (bool, int, uint, float of the standard sizes); object,
// string, complex, datetime and structured dtypes are refused, so no pickle is ever involved.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace umedsam {

struct NpyArray {
    char kind = 0;          // 'b', 'i', 'u' or 'f'
    int itemsize = 0;       // bytes per element
    std::string descr;      // as written in the header, e.g. "<f4"
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;  // C order, native (little-endian) byte order

    int64_t count() const;
    std::string dtype_name() const;  // numpy's name: "uint8", "float32", ...
    // Element i converted to double (any accepted dtype).
    double at(int64_t i) const;
};

// What an .npy header declares, parsed and validated without the data (arrays' data is absent).
struct NpyHeader {
    NpyArray array;            // kind, itemsize, descr, shape; data empty
    bool fortran = false, big_endian = false;
    uint64_t count = 0, nbytes = 0;  // elements and data bytes the shape declares (overflow refused)
    size_t data_start = 0;     // offset of the data: magic + header length
};

// Parse the header at the start of `bytes` (which may hold only the beginning of the file). Throws
// std::invalid_argument like parse_npy.
NpyHeader parse_npy_header(const std::vector<uint8_t>& bytes);

// Parse a whole .npy file. Throws std::invalid_argument with a short reason on any malformation
// (the caller adds the file and field); `max_bytes` bounds the array data.
NpyArray parse_npy(const std::vector<uint8_t>& bytes, uint64_t max_bytes);

// A complete .npy file (version 1.0 header, padded to 64 bytes) for a C-order little-endian array.
std::vector<uint8_t> format_npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                                size_t nbytes);

}  // namespace umedsam
