#include "timeline.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace umedsam::timeline {

namespace {

struct Entry {
    std::string stage;
    double start, end;
    int thread;
};

double clock_s(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// CLOCK_MONOTONIC reading at which the process started. /proc/self/stat field 22 is the start time
// in clock ticks since boot (CLOCK_BOOTTIME); the difference to now, taken once, maps it onto the
// monotonic clock. Without /proc, the origin is the first call.
double origin() {
    static const double t0 = [] {
        const double mono = clock_s(CLOCK_MONOTONIC), boot = clock_s(CLOCK_BOOTTIME);
        std::ifstream in("/proc/self/stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const size_t paren = text.rfind(')');  // the command name may hold spaces
        if (paren == std::string::npos) return mono;
        std::istringstream fields(text.substr(paren + 2));
        std::string field;
        for (int i = 3; i <= 22 && fields >> field; ++i) {  // fields 3..22 follow the name
            if (i == 22) {
                const double ticks = std::strtod(field.c_str(), nullptr), hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
                const double started = ticks / (hz > 0 ? hz : 100.0);
                return started <= boot ? mono - (boot - started) : mono;
            }
        }
        return mono;
    }();
    return t0;
}

// Fix the origin while the library loads, before anything else asks for it.
[[maybe_unused]] const double loaded_at = origin();

std::mutex& lock() {
    static std::mutex m;
    return m;
}

std::vector<Entry>& entries() {
    static std::vector<Entry> e;
    return e;
}

}  // namespace

double now() { return clock_s(CLOCK_MONOTONIC) - origin(); }

void record(const std::string& stage, double start, double end, int thread) {
    std::lock_guard<std::mutex> g(lock());
    entries().push_back(Entry{stage, start, end, thread});
}

std::string json() {
    std::vector<Entry> copy;
    {
        std::lock_guard<std::mutex> g(lock());
        copy = entries();
    }
    std::stable_sort(copy.begin(), copy.end(), [](const Entry& a, const Entry& b) { return a.start < b.start; });
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : copy) out.push_back({{"stage", e.stage}, {"start", e.start}, {"end", e.end}, {"thread", e.thread}});
    return out.dump();
}

void clear() {
    std::lock_guard<std::mutex> g(lock());
    entries().clear();
}

}  // namespace umedsam::timeline
