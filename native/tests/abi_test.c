/* The header compiles as C99 and the error paths of the ABI answer without a crash. */
#include <stdio.h>
#include <string.h>

#include "umedsam.h"

int main(int argc, char** argv) {
    umedsam_options opts;
    umedsam_session* s = NULL;
    umedsam_case_info info;
    if (umedsam_abi_version() != UMEDSAM_ABI_VERSION) return 1;
    umedsam_options_default(&opts);
    if (opts.size != sizeof(opts) || opts.max_cache_mb != 1024) return 2;
    if (umedsam_open("/nonexistent/bundle", &opts, &s) != UMEDSAM_ERR_BUNDLE || s != NULL) return 3;
    if (strstr(umedsam_last_error(), "manifest.json") == NULL) return 4;
    if (umedsam_check_case("/nonexistent/2Dx.npz", &info) != UMEDSAM_ERR_CASE) return 5;
    if (umedsam_segment_2d(NULL, NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL) != UMEDSAM_ERR_ARGUMENT) return 6;
    if (argc > 1) { /* a bundle folder: open it and report */
        if (umedsam_open(argv[1], &opts, &s) != UMEDSAM_OK) {
            fprintf(stderr, "%s\n", umedsam_last_error());
            return 7;
        }
        printf("%s\n", umedsam_session_info(s));
        umedsam_close(s);
        /* the library timed its own steps; a caller's entry joins them */
        if (strstr(umedsam_timeline_json(), "\"encoder (1 image): compile or import\"") == NULL) return 8;
    }
    {
        const double t = umedsam_timeline_now();
        if (!(t > 0.0)) return 9;
        umedsam_timeline_record("caller step", 0.0, t);
        if (strstr(umedsam_timeline_json(), "\"caller step\"") == NULL) return 10;
        umedsam_timeline_clear();
        if (strcmp(umedsam_timeline_json(), "[]") != 0) return 11;
    }
    printf("ok %s\n", umedsam_version());
    return 0;
}
