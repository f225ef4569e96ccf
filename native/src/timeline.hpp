// A process-wide timeline of named stages for `umedsam-native --profile` and umedsam_timeline():
// when did each step between process start and exit begin and end. Times are seconds since the
// process started (the kernel's start time from /proc/self/stat, 10 ms resolution; the spans
// themselves use the monotonic clock), so the first entry shows what the dynamic loader and static
// initialisers cost before main(). Recording is a mutex-guarded append of a few dozen entries per
// case, cheap enough to stay on even when nobody prints it.
#pragma once

#include <string>

namespace umedsam::timeline {

// Seconds since this process started.
double now();

// Append one finished stage; `thread` tells overlapping work apart (0 = the caller's thread).
void record(const std::string& stage, double start, double end, int thread = 0);

// Every recorded stage in order of its start, as a JSON array of
// {"stage": ..., "start": s, "end": s, "thread": n}.
std::string json();

// Forget what was recorded (a long-lived caller profiling one case at a time).
void clear();

// Records [construction, destruction) under `stage`.
class Span {
public:
    explicit Span(std::string stage, int thread = 0) : stage_(std::move(stage)), thread_(thread), start_(now()) {}
    ~Span() { record(stage_, start_, now(), thread_); }
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

private:
    std::string stage_;
    int thread_;
    double start_;
};

}  // namespace umedsam::timeline
