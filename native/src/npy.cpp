#include "npy.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <stdexcept>

namespace umedsam {

namespace {

using std::invalid_argument;

// A strict reader for the Python-literal dict that a .npy header holds, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
public:
    explicit HeaderParser(const std::string& text) : s_(text) {}

    std::map<std::string, std::string> parse() {
        std::map<std::string, std::string> out;
        ws();
        expect('{');
        for (;;) {
            ws();
            if (peek() == '}') { ++i_; break; }
            std::string key = string_literal();
            ws();
            expect(':');
            ws();
            std::string value = value_text();
            if (out.count(key)) throw invalid_argument("npy header repeats key '" + key + "'");
            out[key] = value;
            ws();
            if (peek() == ',') { ++i_; continue; }
            if (peek() == '}') { ++i_; break; }
            throw invalid_argument("npy header is not a dict literal");
        }
        ws();
        if (i_ != s_.size()) throw invalid_argument("npy header has trailing characters");
        return out;
    }

private:
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void ws() { while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_; }
    void expect(char c) {
        if (peek() != c) throw invalid_argument(std::string("npy header: expected '") + c + "'");
        ++i_;
    }
    std::string string_literal() {
        char q = peek();
        if (q != '\'' && q != '"') throw invalid_argument("npy header: expected a quoted key");
        size_t end = s_.find(q, i_ + 1);
        if (end == std::string::npos) throw invalid_argument("npy header: unterminated string");
        std::string v = s_.substr(i_ + 1, end - i_ - 1);
        i_ = end + 1;
        return v;
    }
    // Strings come back unquoted with a leading marker 's'; tuples as "(…)"; names as-is.
    std::string value_text() {
        char c = peek();
        if (c == '\'' || c == '"') return "s" + string_literal();
        if (c == '(') {
            size_t end = s_.find(')', i_);
            if (end == std::string::npos) throw invalid_argument("npy header: unterminated tuple");
            std::string v = s_.substr(i_, end - i_ + 1);
            i_ = end + 1;
            return v;
        }
        if (c == '[') throw invalid_argument("structured dtype not supported");
        size_t start = i_;
        while (i_ < s_.size() && std::isalnum(static_cast<unsigned char>(s_[i_]))) ++i_;
        if (start == i_) throw invalid_argument("npy header: unexpected character");
        return s_.substr(start, i_ - start);
    }

    const std::string& s_;
    size_t i_ = 0;
};

std::vector<int64_t> parse_shape(const std::string& tuple) {
    std::vector<int64_t> shape;
    size_t i = 1;  // after '('
    const size_t end = tuple.size() - 1;  // ')'
    while (i < end) {
        while (i < end && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
        if (i >= end) break;
        if (!std::isdigit(static_cast<unsigned char>(tuple[i])))
            throw invalid_argument("npy header: shape holds a non-integer");
        int64_t v = 0;
        while (i < end && std::isdigit(static_cast<unsigned char>(tuple[i]))) {
            if (v > (INT64_C(1) << 50)) throw invalid_argument("npy header: shape dimension too large");
            v = v * 10 + (tuple[i] - '0');
            ++i;
        }
        if (i < end && tuple[i] == 'L') ++i;  // Python 2 longs
        if (i < end && tuple[i] != ',' && tuple[i] != ' ')
            throw invalid_argument("npy header: malformed shape");
        shape.push_back(v);
        if (shape.size() > 32) throw invalid_argument("npy header: more than 32 dimensions");
    }
    return shape;
}

uint32_t read_le(const uint8_t* p, int n) {
    uint32_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
    return v;
}

}  // namespace

int64_t NpyArray::count() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string NpyArray::dtype_name() const {
    switch (kind) {
        case 'b': return "bool";
        case 'i': return "int" + std::to_string(8 * itemsize);
        case 'u': return "uint" + std::to_string(8 * itemsize);
        case 'f': return "float" + std::to_string(8 * itemsize);
        default: return descr;
    }
}

double NpyArray::at(int64_t i) const {
    const uint8_t* p = data.data() + static_cast<size_t>(i) * itemsize;
    switch (kind) {
        case 'b': return *p != 0;
        case 'u': {
            switch (itemsize) {
                case 1: return *p;
                case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
                case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
                default: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
            }
        }
        case 'i': {
            switch (itemsize) {
                case 1: return static_cast<int8_t>(*p);
                case 2: { int16_t v; std::memcpy(&v, p, 2); return v; }
                case 4: { int32_t v; std::memcpy(&v, p, 4); return v; }
                default: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
            }
        }
        default: {
            switch (itemsize) {
                case 2: { _Float16 v; std::memcpy(&v, p, 2); return static_cast<double>(v); }
                case 4: { float v; std::memcpy(&v, p, 4); return v; }
                default: { double v; std::memcpy(&v, p, 8); return v; }
            }
        }
    }
}

NpyHeader parse_npy_header(const std::vector<uint8_t>& bytes) {
    NpyHeader h;
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
        throw invalid_argument("not an .npy array (bad magic)");
    const int major = bytes[6];
    size_t start = 0;
    uint32_t hlen = 0;
    if (major == 1) {
        hlen = read_le(bytes.data() + 8, 2);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) throw invalid_argument("truncated .npy header");
        hlen = read_le(bytes.data() + 8, 4);
        start = 12;
    } else {
        throw invalid_argument("unsupported .npy format version " + std::to_string(major));
    }
    if (hlen > bytes.size() - start) throw invalid_argument("truncated .npy header");
    const std::string text(reinterpret_cast<const char*>(bytes.data() + start), hlen);
    auto dict = HeaderParser(text).parse();
    if (dict.size() != 3 || !dict.count("descr") || !dict.count("fortran_order") || !dict.count("shape"))
        throw invalid_argument("npy header does not hold exactly descr, fortran_order and shape");

    NpyArray& arr = h.array;
    const std::string& d = dict["descr"];
    if (d.empty() || d[0] != 's') throw invalid_argument("npy header: descr is not a string");
    arr.descr = d.substr(1);
    std::string t = arr.descr;
    char order = '|';
    if (!t.empty() && std::strchr("<>|=", t[0])) { order = t[0]; t = t.substr(1); }
    if (!t.empty() && t[0] == 'O') throw invalid_argument("object array refused (allow_pickle=False)");
    if (t.size() != 2 || !std::strchr("biuf", t[0]) || !std::isdigit(static_cast<unsigned char>(t[1])))
        throw invalid_argument("dtype '" + arr.descr + "' is not supported (numeric dtypes only)");
    arr.kind = t[0];
    arr.itemsize = t[1] - '0';
    const bool ok_size = (arr.kind == 'b' && arr.itemsize == 1) ||
                         ((arr.kind == 'i' || arr.kind == 'u') &&
                          (arr.itemsize == 1 || arr.itemsize == 2 || arr.itemsize == 4 || arr.itemsize == 8)) ||
                         (arr.kind == 'f' && (arr.itemsize == 2 || arr.itemsize == 4 || arr.itemsize == 8));
    if (!ok_size) throw invalid_argument("dtype '" + arr.descr + "' is not supported (numeric dtypes only)");

    const std::string& fo = dict["fortran_order"];
    if (fo != "True" && fo != "False") throw invalid_argument("npy header: fortran_order is not a bool");
    h.fortran = fo == "True";
    const std::string& sh = dict["shape"];
    if (sh.empty() || sh[0] != '(') throw invalid_argument("npy header: shape is not a tuple");
    arr.shape = parse_shape(sh);

    uint64_t count = 1;
    for (int64_t v : arr.shape)
        if (__builtin_mul_overflow(count, static_cast<uint64_t>(v), &count))
            throw invalid_argument("npy header: shape overflows");
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(arr.itemsize), &h.nbytes))
        throw invalid_argument("npy header: shape overflows");
    h.count = count;
    h.big_endian = order == '>';
    h.data_start = start + hlen;
    return h;
}

NpyArray parse_npy(const std::vector<uint8_t>& bytes, uint64_t max_bytes) {
    NpyHeader h = parse_npy_header(bytes);
    NpyArray arr = std::move(h.array);
    const uint64_t nbytes = h.nbytes, count = h.count;
    const bool fortran = h.fortran;
    const char order = h.big_endian ? '>' : '<';
    if (nbytes > max_bytes)
        throw invalid_argument("array of " + std::to_string(nbytes) + " bytes exceeds the limit of " +
                               std::to_string(max_bytes));
    const size_t data_start = h.data_start;
    if (nbytes > bytes.size() - data_start)
        throw invalid_argument("array data truncated (" + std::to_string(bytes.size() - data_start) + " of " +
                               std::to_string(nbytes) + " bytes)");
    arr.data.assign(bytes.begin() + data_start, bytes.begin() + data_start + nbytes);

    if (order == '>' && arr.itemsize > 1) {
        for (size_t i = 0; i < arr.data.size(); i += arr.itemsize)
            std::reverse(arr.data.begin() + i, arr.data.begin() + i + arr.itemsize);
    }
    if (fortran && arr.shape.size() > 1 && count > 0) {
        // Reorder to C order: walk C-order indices, read the Fortran-order offset.
        const size_t nd = arr.shape.size();
        std::vector<uint64_t> fstride(nd);
        uint64_t s = 1;
        for (size_t k = 0; k < nd; ++k) { fstride[k] = s; s *= arr.shape[k]; }
        std::vector<uint8_t> c(arr.data.size());
        std::vector<int64_t> idx(nd, 0);
        for (uint64_t n = 0; n < count; ++n) {
            uint64_t off = 0;
            for (size_t k = 0; k < nd; ++k) off += idx[k] * fstride[k];
            std::memcpy(c.data() + n * arr.itemsize, arr.data.data() + off * arr.itemsize, arr.itemsize);
            for (size_t k = nd; k-- > 0;) {
                if (++idx[k] < arr.shape[k]) break;
                idx[k] = 0;
            }
        }
        arr.data.swap(c);
    }
    return arr;
}

std::vector<uint8_t> format_npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                                size_t nbytes) {
    std::string dims;
    for (size_t k = 0; k < shape.size(); ++k) dims += (k ? ", " : "") + std::to_string(shape[k]);
    if (shape.size() == 1) dims += ",";
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.push_back(static_cast<uint8_t>(header.size() & 0xff));
    out.push_back(static_cast<uint8_t>(header.size() >> 8));
    out.insert(out.end(), header.begin(), header.end());
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + nbytes);
    return out;
}

}  // namespace umedsam
