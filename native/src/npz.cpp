#include "npz.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "error.hpp"

namespace umedsam {

namespace {

std::string zip_message(int code) {
    zip_error_t err;
    zip_error_init_with_code(&err, code);
    std::string msg = zip_error_strerror(&err);
    zip_error_fini(&err);
    return msg;
}

std::string temp_name(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    return dir + "." + base + "." + std::to_string(::getpid()) + ".tmp";
}

void fsync_and_rename(const std::string& tmp, const std::string& path) {
    int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + std::strerror(e) + ")");
    }
    ::close(fd);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + std::strerror(e) + ")");
    }
}

}  // namespace

NpzReader::NpzReader(const std::string& path) : path_(path) {
    int code = 0;
    // No ZIP_CHECKCONS: like Python's zipfile, tolerate benign local/central header differences;
    // the data itself is still checked (sizes, CRC-32) when a member is read.
    zip_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
    if (!zip_) {
        if (code == ZIP_ER_NOENT) throw case_error(path, "<file>", "not found");
        throw case_error(path, "<file>", "not a readable npz (" + zip_message(code) + ")");
    }
    const zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
        const char* name = zip_get_name(zip_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
        if (!name) continue;
        std::string member = name;
        std::string key = member.size() > 4 && member.compare(member.size() - 4, 4, ".npy") == 0
                              ? member.substr(0, member.size() - 4)
                              : member;
        members_.push_back(member);
        keys_.push_back(key);
    }
}

NpzReader::~NpzReader() {
    if (zip_) zip_discard(zip_);
}

bool NpzReader::has(const std::string& key) const {
    for (const auto& k : keys_)
        if (k == key) return true;
    return false;
}

NpyArray NpzReader::array(const std::string& key, uint64_t max_bytes) const {
    size_t idx = keys_.size();
    for (size_t i = 0; i < keys_.size(); ++i)
        if (keys_[i] == key) { idx = i; break; }
    if (idx == keys_.size()) throw case_error(path_, key, "missing");
    zip_stat_t st;
    zip_stat_init(&st);
    const zip_int64_t index = zip_name_locate(zip_, members_[idx].c_str(), ZIP_FL_ENC_RAW);
    if (index < 0 || zip_stat_index(zip_, static_cast<zip_uint64_t>(index), 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE))
        throw case_error(path_, key, "unreadable (no size in the zip directory)");
    // Zip bombs: the directory's size and the header's shape x itemsize are checked against the limit
    // and each other before the data is inflated or its buffer allocated (umedsam/data/npz.py does
    // the same). libzip stops at the directory's size and checks the CRC, so a lying directory fails.
    if (st.size > max_bytes + 65536)
        throw case_error(path_, key, "member inflates to " + std::to_string(st.size) + " bytes, over the limit of " +
                                         std::to_string(max_bytes) + " (UMEDSAM_MAX_ARRAY_MB)");
    zip_file_t* f = zip_fopen_index(zip_, static_cast<zip_uint64_t>(index), 0);
    if (!f) throw case_error(path_, key, std::string("unreadable (") + zip_strerror(zip_) + ")");
    std::vector<uint8_t> bytes(static_cast<size_t>(std::min<zip_uint64_t>(st.size, 65536 + 16)));
    zip_uint64_t got = 0;
    auto read_to = [&](zip_uint64_t want) {
        while (got < want) {
            const zip_int64_t r = zip_fread(f, bytes.data() + got, want - got);
            if (r < 0) {
                std::string msg = zip_file_strerror(f);
                zip_fclose(f);
                throw case_error(path_, key, "unreadable (" + msg + ")");
            }
            if (r == 0) break;
            got += static_cast<zip_uint64_t>(r);
        }
    };
    read_to(bytes.size());
    if (bytes.size() >= 6 && bytes[0] == 0x93 && bytes[1] == 'N') {  // bad magic: parse_npy reports it below
        NpyHeader h;
        try {
            h = parse_npy_header(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(got)));
        } catch (const std::invalid_argument& e) {
            zip_fclose(f);
            throw case_error(path_, key, e.what());
        }
        std::string shape = "(";
        for (size_t k = 0; k < h.array.shape.size(); ++k) shape += (k ? ", " : "") + std::to_string(h.array.shape[k]);
        shape += h.array.shape.size() == 1 ? ",)" : ")";
        if (h.nbytes > max_bytes) {
            zip_fclose(f);
            throw case_error(path_, key, "shape " + shape + " of " + h.array.dtype_name() + " declares " +
                                             std::to_string(h.nbytes) + " bytes, over the limit of " +
                                             std::to_string(max_bytes) + " (UMEDSAM_MAX_ARRAY_MB)");
        }
        if (h.data_start + h.nbytes != st.size) {
            zip_fclose(f);
            throw case_error(path_, key, "shape " + shape + " of " + h.array.dtype_name() +
                                             " does not match the member's size (" +
                                             std::to_string(st.size - std::min<uint64_t>(st.size, h.data_start)) +
                                             " data bytes, " + std::to_string(h.nbytes) + " declared)");
        }
    }
    bytes.resize(static_cast<size_t>(st.size));  // only now the whole member's buffer
    read_to(st.size);
    // One more read reaches the end of the stream, where libzip verifies the CRC.
    char extra;
    const zip_int64_t tail = got == st.size ? zip_fread(f, &extra, 1) : 0;
    std::string tail_msg = tail < 0 ? zip_file_strerror(f) : "";
    zip_fclose(f);
    if (tail < 0) throw case_error(path_, key, "unreadable (" + tail_msg + ")");
    if (got != st.size || tail > 0) throw case_error(path_, key, "unreadable (member size does not match the zip directory)");
    try {
        return parse_npy(bytes, max_bytes);
    } catch (const std::invalid_argument& e) {
        throw case_error(path_, key, e.what());
    }
}

std::vector<int64_t> NpzReader::declared_shape(const std::string& key) const {
    size_t idx = keys_.size();
    for (size_t i = 0; i < keys_.size(); ++i)
        if (keys_[i] == key) { idx = i; break; }
    if (idx == keys_.size()) throw case_error(path_, key, "missing");
    zip_file_t* f = zip_fopen(zip_, members_[idx].c_str(), ZIP_FL_ENC_RAW);
    if (!f) throw case_error(path_, key, std::string("unreadable (") + zip_strerror(zip_) + ")");
    std::vector<uint8_t> bytes(65536 + 16);
    const zip_int64_t r = zip_fread(f, bytes.data(), bytes.size());
    zip_fclose(f);
    if (r < 0) throw case_error(path_, key, "unreadable");
    bytes.resize(static_cast<size_t>(r));
    try {
        return parse_npy_header(bytes).array.shape;
    } catch (const std::invalid_argument& e) {
        throw case_error(path_, key, e.what());
    }
}

void write_npz_atomic(const std::string& path, const std::string& name, const std::vector<uint8_t>& npy_bytes) {
    const std::string tmp = temp_name(path);
    int code = 0;
    zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!z) throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + zip_message(code) + ")");
    zip_source_t* src = zip_source_buffer(z, npy_bytes.data(), npy_bytes.size(), 0);
    zip_int64_t idx = src ? zip_file_add(z, (name + ".npy").c_str(), src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0 || zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), ZIP_CM_DEFLATE, 6) != 0) {
        std::string msg = zip_strerror(z);
        if (src && idx < 0) zip_source_free(src);
        zip_discard(z);
        ::unlink(tmp.c_str());
        throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + msg + ")");
    }
    if (zip_close(z) != 0) {
        std::string msg = zip_strerror(z);
        zip_discard(z);
        ::unlink(tmp.c_str());
        throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + msg + ")");
    }
    fsync_and_rename(tmp, path);
}

void write_text_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = temp_name(path);
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error(UMEDSAM_ERR_IO, path + ": cannot write (" + std::strerror(errno) + ")");
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) {
        ::unlink(tmp.c_str());
        throw Error(UMEDSAM_ERR_IO, path + ": cannot write");
    }
    fsync_and_rename(tmp, path);
}

}  // namespace umedsam
