#include "verify.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "error.hpp"

namespace umedsam {

namespace {

constexpr int CACHE_VERSION = 1;  // umedsam/runtime/integrity.py's CACHE_VERSION

struct StatKey {
    int64_t size = 0, ino = 0, dev = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const StatKey& o) const {
        return size == o.size && ino == o.ino && dev == o.dev && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
    }
};

bool stat_key(const std::string& path, StatKey& key) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    key.size = static_cast<int64_t>(st.st_size);
    key.ino = static_cast<int64_t>(st.st_ino);
    key.dev = static_cast<int64_t>(st.st_dev);
    key.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    key.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return true;
}

std::string real_path(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

nlohmann::json load_cache(const std::string& path) {
    std::ifstream in(path);
    if (!in) return nlohmann::json::object();
    try {
        nlohmann::json data = nlohmann::json::parse(in);
        if (data.is_object() && data.value("version", 0) == CACHE_VERSION && data.contains("files") &&
            data["files"].is_object())
            return data["files"];
    } catch (const std::exception&) {
    }
    return nlohmann::json::object();  // malformed: ignored and rewritten
}

bool make_parent_dirs(const std::string& file) {
    std::string cur;
    const size_t end = file.find_last_of('/');
    if (end == std::string::npos || end == 0) return true;
    for (size_t i = 0; i <= end; ++i) {
        if (i == end || file[i] == '/') {
            if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
        }
        cur += file[i];
    }
    return true;
}

// Best effort, atomic (a unique temporary file renamed over the cache): a cache that cannot be
// written only costs the hashing next time.
void write_json_atomic(const std::string& path, const nlohmann::json& data) {
    if (path.empty() || !make_parent_dirs(path)) return;
    const std::string text = data.dump() + "\n";
    std::string tmp = path + ".XXXXXX";
    std::vector<char> name(tmp.begin(), tmp.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) return;
    ::fchmod(fd, 0644);
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = ::fsync(fd) == 0 && ok;
    ok = ::close(fd) == 0 && ok;
    if (!ok || std::rename(name.data(), path.c_str()) != 0) ::unlink(name.data());
}

void save_cache(const std::string& path, const nlohmann::json& added) {
    if (path.empty() || added.empty()) return;
    nlohmann::json files = load_cache(path);  // keep what another process added meanwhile
    for (auto it = added.begin(); it != added.end(); ++it) files[it.key()] = it.value();
    nlohmann::json kept = nlohmann::json::object();  // entries of deleted files are dropped
    std::error_code ec;
    for (auto it = files.begin(); it != files.end(); ++it)
        if (std::filesystem::exists(it.key(), ec)) kept[it.key()] = it.value();
    files = kept;
    write_json_atomic(path, nlohmann::json{{"version", CACHE_VERSION}, {"files", files}});
}

constexpr const char* BLOB_RECORD = "umedsam-blobs.json";  // umedsam/runtime/integrity.py's BLOB_RECORD

nlohmann::json load_blob_record(const std::string& dir) {
    nlohmann::json out = nlohmann::json::object();
    std::ifstream in(dir + "/" + BLOB_RECORD);
    if (!in) return out;
    try {
        const nlohmann::json data = nlohmann::json::parse(in);
        if (data.is_object() && data.contains("blobs") && data["blobs"].is_object())
            for (auto it = data["blobs"].begin(); it != data["blobs"].end(); ++it)
                if (it.value().is_string()) out[it.key()] = it.value();
    } catch (const std::exception&) {
    }
    return out;
}

void write_blob_record(const std::string& dir, const nlohmann::json& blobs) {
    write_json_atomic(dir + "/" + BLOB_RECORD, nlohmann::json{{"version", CACHE_VERSION}, {"blobs", blobs}});
}

std::string stem_of(const std::string& name) { return name.substr(0, name.find('.')); }

std::pair<std::string, std::string> split_dir(const std::string& rel) {
    const size_t slash = rel.find_last_of('/');
    if (slash == std::string::npos) return {"", rel};
    return {rel.substr(0, slash), rel.substr(slash + 1)};
}

}  // namespace

DigestCache::DigestCache() : path_(verify_cache_path()) {
    if (!path_.empty()) entries_ = load_cache(path_);
}

bool DigestCache::sha256(const std::string& path, std::string& digest) {
    const std::string real = real_path(path);
    StatKey key;
    if (!stat_key(real, key)) return false;
    if (entries_.contains(real) && entries_[real].is_object()) {
        const auto& e = entries_[real];
        try {
            const StatKey have{e.at("size").get<int64_t>(), e.at("ino").get<int64_t>(), e.at("dev").get<int64_t>(),
                               e.at("mtime_ns").get<int64_t>(), e.at("ctime_ns").get<int64_t>()};
            if (have == key && e.at("sha256").is_string()) {
                digest = e.at("sha256").get<std::string>();
                return true;
            }
        } catch (const std::exception&) {
        }
    }
    digest = sha256_file(real);
    StatKey after;
    if (stat_key(real, after) && after == key) {  // unchanged while it was read: safe to remember
        const nlohmann::json entry = {{"size", key.size}, {"ino", key.ino}, {"dev", key.dev},
                                      {"mtime_ns", key.mtime_ns}, {"ctime_ns", key.ctime_ns}, {"sha256", digest}};
        entries_[real] = entry;
        added_[real] = entry;
    }
    return true;
}

void DigestCache::save() {
    save_cache(path_, added_);
    added_ = nlohmann::json::object();
}

std::string verify_cache_path() {
    if (const char* env = std::getenv("UMEDSAM_VERIFY_CACHE"); env && *env) return env;
    if (const char* ov = std::getenv("UMEDSAM_OV_CACHE"); ov && *ov) {
        std::string dir = ov;
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        const size_t slash = dir.find_last_of('/');
        const std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
        return parent + "/verified.json";
    }
    const char* home = std::getenv("HOME");
    return home && *home ? std::string(home) + "/.cache/umedsam/verified.json" : "";
}

std::string sha256_file(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) throw Error(UMEDSAM_ERR_BUNDLE, path + ": cannot read (" + std::strerror(errno) + ")");
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw Error(UMEDSAM_ERR_INTERNAL, "OpenSSL: cannot start a sha256 digest");
    std::vector<unsigned char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
    if (std::ferror(f.get())) throw Error(UMEDSAM_ERR_BUNDLE, path + ": read error");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

void verify_bundle(const BundleInfo& bundle) {
    nlohmann::json manifest;
    try {
        manifest = nlohmann::json::parse(bundle.manifest_json);
    } catch (const std::exception&) {
        return;  // read_bundle already parsed it; unreachable
    }
    if (!manifest.contains("files") || !manifest["files"].is_object() || manifest["files"].empty()) return;
    const auto& files = manifest["files"];
    // graphs and companions, in the Python runtime's order (umedsam/runtime/bundle.py, Bundle.graph_files)
    std::vector<std::pair<std::string, std::string>> todo;  // (path, expected digest or "")
    std::set<std::string> seen;
    for (const std::string& graph : {bundle.encoder, bundle.decoder}) {
        const std::string rel = graph.compare(0, bundle.root.size() + 1, bundle.root + "/") == 0
                                    ? graph.substr(bundle.root.size() + 1) : graph;
        const auto [dir, name] = split_dir(rel);
        for (auto it = files.begin(); it != files.end(); ++it) {
            const auto [edir, ename] = split_dir(it.key());
            if (edir == dir && (ename == name || stem_of(ename) == stem_of(name)) && it.value().is_string() &&
                seen.insert(it.key()).second)
                todo.emplace_back(bundle.root + "/" + it.key(), it.value().get<std::string>());
        }
        if (!files.contains(rel) && seen.insert(rel).second) todo.emplace_back(graph, "");
    }
    DigestCache cache;
    std::string failure;
    for (const auto& [path, expected] : todo) {
        if (expected.empty()) {
            failure = path + ": not listed in the manifest's 'files'; its integrity cannot be checked "
                             "(re-export the bundle, or pass --no-verify)";
            break;
        }
        std::string digest;
        if (!cache.sha256(path, digest)) {
            failure = path + ": file listed in the manifest is missing";
            break;
        }
        if (digest != expected) {
            failure = path + ": sha256 " + digest.substr(0, 12) + "\u2026 does not match the manifest (" +
                      expected.substr(0, 12) + "\u2026): the file changed after export; re-export the bundle, "
                      "or pass --no-verify";
            break;
        }
    }
    cache.save();
    if (!failure.empty()) throw Error(UMEDSAM_ERR_BUNDLE, failure);
}

void check_blob_cache(const std::string& cache_dir) {
    if (cache_dir.empty()) return;
    const nlohmann::json record = load_blob_record(cache_dir);
    if (record.empty()) return;
    DigestCache digests;
    std::vector<std::string> removed;
    for (auto it = record.begin(); it != record.end(); ++it) {
        const std::string blob = cache_dir + "/" + it.key();
        std::string digest;
        bool same = false;
        try {
            same = digests.sha256(blob, digest) && digest == it.value().get<std::string>();
        } catch (const Error&) {
            same = false;
        }
        if (same) continue;
        if (::unlink(blob.c_str()) != 0 && errno != ENOENT) continue;  // undeletable: OpenVINO's checks remain
        removed.push_back(it.key());
    }
    if (!removed.empty()) {
        nlohmann::json fresh = load_blob_record(cache_dir);  // another process may have added blobs
        for (const auto& name : removed) fresh.erase(name);
        write_blob_record(cache_dir, fresh);
    }
    digests.save();
}

void record_blobs(const std::string& cache_dir) {
    if (cache_dir.empty()) return;
    const nlohmann::json record = load_blob_record(cache_dir);
    DigestCache digests;
    nlohmann::json added = nlohmann::json::object();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(cache_dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".blob" || record.contains(name)) continue;
        std::string digest;
        StatKey before, after;
        try {
            if (stat_key(entry.path().string(), before) && digests.sha256(entry.path().string(), digest) &&
                stat_key(entry.path().string(), after) && before == after)  // not being written meanwhile
                added[name] = digest;
        } catch (const Error&) {
        }
    }
    if (!added.empty()) {
        nlohmann::json fresh = load_blob_record(cache_dir);
        for (auto it = added.begin(); it != added.end(); ++it) fresh[it.key()] = it.value();
        write_blob_record(cache_dir, fresh);
    }
    digests.save();
}

CacheLock::CacheLock(const std::string& cache_dir) {
    if (cache_dir.empty()) return;
    fd_ = ::open((cache_dir + "/.umedsam.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
        while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
}

CacheLock::~CacheLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void check_bundle_status(const BundleInfo& bundle) {
    try {
        const nlohmann::json m = nlohmann::json::parse(bundle.manifest_json);
        if (m.contains("status") && m["status"].is_string() && m["status"].get<std::string>() == "failed")
            throw Error(UMEDSAM_ERR_BUNDLE, bundle.root + "/manifest.json: field 'status': \"failed\": this bundle "
                                            "failed its check (export-time check or INT8 gate); pass --allow-failed "
                                            "to run it anyway");
    } catch (const nlohmann::json::exception&) {
    }
}

}  // namespace umedsam
