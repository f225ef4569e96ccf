// umedsam-native: segment every challenge case of a folder with a bundle, through the C ABI only.
//
//   umedsam-native -i INPUTS -o OUTPUTS --bundle DIR [--threads N] [--max-cache-mb M] [--cache-dir DIR]
//                  [--resume] [--no-verify] [--allow-failed] [--profile] [--profile-json FILE] [--no-fast-exit]
//
// The same contract as `umedsam-predict --no-sidecars`: INPUTS is an imgs/ folder or a root holding
// imgs/; every *.npz case is segmented into OUTPUTS/<name> (segs, uint16) written atomically, and
// OUTPUTS/efficiency.csv (case,time) lists wall seconds per case including npz I/O. A malformed
// case is reported in one line and skipped; the exit code is 1 if any case failed, 2 on bad usage
// or a bundle that cannot be opened (a graph file whose sha256 differs from the manifest's, unless
// --no-verify; a bundle whose manifest says "status": "failed", unless --allow-failed). --resume
// skips the cases whose output is already complete and valid (umedsam_check_output).
// --profile prints the per-stage timeline from process start to
// exit on stderr (--profile-json writes it as JSON, with the encoder and decoder seconds per case).
//
// The process ends with _exit() once every output is fsynced and renamed and stdio is flushed:
// tearing down OpenVINO (compiled models, plugins, thread pools) and the big buffers is work the
// operating system does for free at exit (--no-fast-exit runs the destructors, for leak checkers).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "umedsam.h"

namespace fs = std::filesystem;

namespace {

const char* USAGE =
    "usage: umedsam-native -i INPUTS -o OUTPUTS --bundle DIR [--threads N] [--max-cache-mb M]\n"
    "                      [--cache-dir DIR] [--compile-only] [--resume] [--no-verify] [--allow-failed]\n"
    "                      [--quiet] [--version] [--profile] [--profile-json FILE] [--no-fast-exit]\n"
    "Segment every challenge case (2D*.npz / 3D*.npz) in INPUTS (an imgs/ folder or its root) into\n"
    "OUTPUTS with an exported bundle (OpenVINO IR or ONNX) on OpenVINO. --compile-only opens the\n"
    "bundle (filling the compiled-blob cache) and exits. --resume skips cases whose output is complete\n"
    "and valid. --no-verify skips the sha256 check of the graph files against the manifest;\n"
    "--allow-failed opens a bundle whose manifest status is \"failed\". --profile prints the per-stage\n"
    "timeline (process start to exit) on stderr; --profile-json writes it as JSON.\n";

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "umedsam-native: %s\n%s", msg.c_str(), USAGE);
    return 2;
}

bool parse_number(const char* text, double& out) {
    char* end = nullptr;
    out = std::strtod(text, &end);
    return end && *end == '\0' && end != text;
}

mode_t current_umask() {
    const mode_t mask = ::umask(022);
    ::umask(mask);
    return mask;
}

// Escape a case name for the CSV (names with commas or quotes are legal file names).
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// A unique temporary name (two runs may share an output folder), fsync, rename.
bool write_text_atomic(const fs::path& path, const std::string& text) {
    std::string pattern = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) return false;
    ::fchmod(fd, 0666 & ~current_umask());
    const fs::path tmp = pattern;
    FILE* f = ::fdopen(fd, "wb");
    if (!f) {
        ::close(fd);
        std::error_code ec;
        fs::remove(tmp, ec);
        return false;
    }
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = (std::fflush(f) == 0) && ok;
    ok = (::fsync(::fileno(f)) == 0) && ok;
    ok = (std::fclose(f) == 0) && ok;
    std::error_code ec;
    if (ok) fs::rename(tmp, path, ec);
    if (!ok || ec) fs::remove(tmp, ec);
    return ok && !ec;
}

// Rows of a previous efficiency.csv (name -> the row), so --resume keeps the times of skipped cases.
std::map<std::string, std::string> previous_rows(const fs::path& csv) {
    std::map<std::string, std::string> rows;
    std::ifstream in(csv);
    std::string line;
    while (std::getline(in, line)) {
        const size_t comma = line.rfind(',');
        if (comma == std::string::npos || line.rfind("case,", 0) == 0 || line[0] == '"') continue;
        rows[line.substr(0, comma)] = line + "\n";
    }
    return rows;
}

// One case's share of the profile: which case, its wall seconds and the session's stage seconds.
struct CaseProfile {
    std::string name;
    double seconds = 0;
    umedsam_timings timings{};
};

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// {"timeline": [...], "cases": [{"case", "seconds", "encode_s", "decode_s", ...}], "wall_s", ...}
std::string profile_json(const std::vector<CaseProfile>& cases, double wall) {
    double enc = 0, dec = 0;
    std::string out = "{\"tool\": \"umedsam-native\", \"timeline\": " + std::string(umedsam_timeline_json()) + ", \"cases\": [";
    for (size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        const auto& t = c.timings;
        enc += t.encode_s;
        dec += t.decode_s;
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "{\"case\": %s, \"seconds\": %.6f, \"preprocess_s\": %.6f, \"encode_s\": %.6f, "
                      "\"decode_s\": %.6f, \"postprocess_s\": %.6f, \"encoder_calls\": %lld, \"decoder_calls\": %lld}",
                      json_string(c.name).c_str(), c.seconds, t.preprocess_s, t.encode_s, t.decode_s, t.postprocess_s,
                      static_cast<long long>(t.encoder_calls), static_cast<long long>(t.decoder_calls));
        out += (i ? ", " : "") + std::string(buf);
    }
    char tail[256];
    std::snprintf(tail, sizeof tail, "], \"wall_s\": %.6f, \"encode_s\": %.6f, \"decode_s\": %.6f, \"overhead_s\": %.6f}\n",
                  wall, enc, dec, wall - enc - dec);
    return out + tail;
}

// The timeline as a table on stderr, then the overhead: wall until now minus encoder and decoder time.
void print_profile(const std::vector<CaseProfile>& cases, double wall) {
    const std::string text = umedsam_timeline_json();
    std::fprintf(stderr, "profile (seconds since process start):\n  %8s %8s %8s  %s\n", "start", "end", "seconds", "stage");
    // The library's JSON is flat and machine-written: {"end":E,"stage":"S","start":B,"thread":N}
    size_t pos = 0;
    while ((pos = text.find('{', pos)) != std::string::npos) {
        const size_t close = text.find('}', pos);
        const std::string obj = text.substr(pos, close - pos);
        auto number = [&](const char* key) {
            const size_t k = obj.find(std::string("\"") + key + "\":");
            return k == std::string::npos ? 0.0 : std::strtod(obj.c_str() + k + std::strlen(key) + 3, nullptr);
        };
        std::string stage;
        const size_t k = obj.find("\"stage\":\"");
        if (k != std::string::npos) {
            for (size_t i = k + 9; i < obj.size() && obj[i] != '"'; ++i) {
                if (obj[i] == '\\' && i + 1 < obj.size()) ++i;
                stage += obj[i];
            }
        }
        const double b = number("start"), e = number("end");
        const int thread = static_cast<int>(number("thread"));
        std::fprintf(stderr, "  %8.3f %8.3f %8.3f  %s%s\n", b, e, e - b, thread ? "  [overlapped] " : "", stage.c_str());
        pos = close;
    }
    double enc = 0, dec = 0;
    for (const auto& c : cases) {
        enc += c.timings.encode_s;
        dec += c.timings.decode_s;
        std::fprintf(stderr, "  case %s: %.3f s (preprocess %.3f, encode %.3f x%lld, decode %.3f x%lld, postprocess %.3f)\n",
                     c.name.c_str(), c.seconds, c.timings.preprocess_s, c.timings.encode_s,
                     static_cast<long long>(c.timings.encoder_calls), c.timings.decode_s,
                     static_cast<long long>(c.timings.decoder_calls), c.timings.postprocess_s);
    }
    std::fprintf(stderr, "  wall %.3f s until exit, encoder %.3f s, decoder %.3f s, overhead %.3f s\n", wall, enc, dec,
                 wall - enc - dec);
}

}  // namespace

int main(int argc, char** argv) {
    const double t_main = umedsam_timeline_now();
    umedsam_timeline_record("process start -> main (loader, libraries, static init)", 0.0, t_main);
    std::string inputs, outputs, bundle, cache_dir, profile_path;
    bool cache_dir_set = false, compile_only = false, quiet = false, resume = false, profile = false, fast_exit = true;
    umedsam_options options;
    umedsam_options_default(&options);
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* name) -> const char* {
            if (i + 1 >= argc) return nullptr;
            (void)name;
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            std::fputs(USAGE, stdout);
            return 0;
        } else if (a == "--version") {
            std::printf("%s\n", umedsam_version());
            return 0;
        } else if (a == "-i" || a == "--inputs" || a == "-o" || a == "--outputs" || a == "--bundle" ||
                   a == "--threads" || a == "--max-cache-mb" || a == "--cache-dir" || a == "--profile-json") {
            const char* v = value(a.c_str());
            if (!v) return usage_error(a + " needs a value");
            double num = 0;
            if (a == "-i" || a == "--inputs") inputs = v;
            else if (a == "-o" || a == "--outputs") outputs = v;
            else if (a == "--bundle") bundle = v;
            else if (a == "--cache-dir") { cache_dir = v; cache_dir_set = true; }
            else if (a == "--profile-json") profile_path = v;
            else if (!parse_number(v, num) || num < 0) return usage_error(a + " needs a non-negative number");
            else if (a == "--threads") options.threads = static_cast<int32_t>(num);
            else options.max_cache_mb = num;
        } else if (a == "--resume") {
            resume = true;
        } else if (a == "--no-verify") {
            options.verify = 0;
        } else if (a == "--allow-failed") {
            options.allow_failed = 1;
        } else if (a == "--compile-only") {
            compile_only = true;
        } else if (a == "--quiet" || a == "-q") {
            quiet = true;
        } else if (a == "--profile") {
            profile = true;
        } else if (a == "--no-fast-exit") {
            fast_exit = false;
        } else {
            return usage_error("unknown argument '" + a + "'");
        }
    }
    if (bundle.empty()) return usage_error("--bundle is required");
    if (!compile_only && (inputs.empty() || outputs.empty())) return usage_error("-i and -o are required");
    if (cache_dir_set) options.cache_dir = cache_dir.c_str();

    std::vector<fs::path> cases;
    double t = umedsam_timeline_now();
    if (!compile_only) {
        fs::path in = inputs;
        std::error_code ec;
        if (fs::is_directory(in / "imgs", ec)) in /= "imgs";
        if (fs::is_regular_file(in, ec)) {
            cases.push_back(in);
        } else if (fs::is_directory(in, ec)) {
            for (const auto& entry : fs::directory_iterator(in, ec)) {
                const std::string name = entry.path().filename().string();
                if (entry.path().extension() == ".npz" && name[0] != '.') cases.push_back(entry.path());
            }
            std::sort(cases.begin(), cases.end());
        } else {
            std::fprintf(stderr, "umedsam-native: %s: field '<folder>': not a directory\n", inputs.c_str());
            return 2;
        }
        fs::create_directories(outputs, ec);
        if (ec) {
            std::fprintf(stderr, "umedsam-native: %s: cannot create (%s)\n", outputs.c_str(), ec.message().c_str());
            return 2;
        }
    }

    const double t_open = umedsam_timeline_now();
    umedsam_timeline_record("list cases, create output folder", t, t_open);
    t = t_open;
    umedsam_session* session = nullptr;
    const umedsam_status opened = umedsam_open(bundle.c_str(), &options, &session);
    umedsam_timeline_record("open bundle", t, umedsam_timeline_now());
    if (opened != UMEDSAM_OK) {
        std::fprintf(stderr, "umedsam-native: %s\n", umedsam_last_error());
        return 2;
    }
    std::vector<CaseProfile> profiles;
    // Flush, then end the process without destructors (see the header); --no-fast-exit returns normally.
    auto finish = [&](int code) {
        const double wall = umedsam_timeline_now();
        if (profile) print_profile(profiles, wall);
        if (!profile_path.empty()) {
            const std::string text = profile_json(profiles, wall);
            if (!write_text_atomic(profile_path, text)) {
                std::fprintf(stderr, "error: %s: cannot write\n", profile_path.c_str());
                code = code ? code : 1;
            }
        }
        std::fflush(stdout);
        std::fflush(stderr);
        if (fast_exit) ::_exit(code);
        const double t_close = umedsam_timeline_now();
        umedsam_close(session);
        if (profile) std::fprintf(stderr, "  (--no-fast-exit: closing the session took %.3f s)\n", umedsam_timeline_now() - t_close);
        return code;
    };
    if (compile_only) {
        if (!quiet) std::printf("%s\n", umedsam_session_info(session));
        return finish(0);
    }
    int failed = 0;
    size_t skipped = 0;
    double total = 0;
    std::string csv = "case,time\n";
    const auto before = resume ? previous_rows(fs::path(outputs) / "efficiency.csv") : std::map<std::string, std::string>{};
    for (const auto& path : cases) {
        const auto start = std::chrono::steady_clock::now();
        const std::string name = path.filename().string();
        const fs::path out = fs::path(outputs) / name;
        if (resume && fs::exists(out) && umedsam_check_output(path.c_str(), out.c_str()) == UMEDSAM_OK) {
            ++skipped;
            const auto row = before.find(csv_field(name));
            if (row != before.end()) csv += row->second;
            if (!quiet) std::fprintf(stderr, "%s skipped (output complete)\n", name.c_str());
            continue;
        }
        const umedsam_status st = umedsam_segment_file(session, path.c_str(), out.c_str());
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string warnings = umedsam_warnings(session);
        if (!warnings.empty() && !quiet) {
            size_t pos = 0;
            while (pos <= warnings.size()) {
                const size_t nl = warnings.find('\n', pos);
                std::fprintf(stderr, "warning: %s\n", warnings.substr(pos, nl - pos).c_str());
                if (nl == std::string::npos) break;
                pos = nl + 1;
            }
        }
        if (st != UMEDSAM_OK) {
            ++failed;
            std::fprintf(stderr, "error: %s\n", umedsam_last_error());
            continue;
        }
        CaseProfile p;
        p.name = name;
        p.seconds = seconds;
        umedsam_get_timings(session, &p.timings);
        profiles.push_back(p);
        total += seconds;
        char line[64];
        std::snprintf(line, sizeof line, ",%.4f\n", seconds);
        csv += csv_field(name) + line;
        // kept current (best effort), so a run killed part-way leaves the times --resume keeps
        write_text_atomic(fs::path(outputs) / "efficiency.csv", csv);
        if (!quiet) std::fprintf(stderr, "%s %.2fs\n", name.c_str(), seconds);
    }
    t = umedsam_timeline_now();
    if (!write_text_atomic(fs::path(outputs) / "efficiency.csv", csv)) {
        std::fprintf(stderr, "error: %s/efficiency.csv: cannot write\n", outputs.c_str());
        failed += 1;
    }
    umedsam_timeline_record("write efficiency.csv", t, umedsam_timeline_now());
    std::printf("%zu/%zu cases written to %s (%.1fs total)", cases.size() - failed - skipped, cases.size(), outputs.c_str(),
                total);
    if (skipped) std::printf(", %zu already complete", skipped);
    std::printf("\n");
    return finish(failed ? 1 : 0);
}
