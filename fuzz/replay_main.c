/*
 * replay_main.c — runs files through a fuzz target's LLVMFuzzerTestOneInput, once
 * each, for a toolchain without libFuzzer's runtime (clang's libclang_rt.fuzzer, or
 * gcc). Arguments are files or folders (every regular file in a folder, not
 * recursive); a missing folder is skipped. Prints one line per input; a crash or a
 * sanitizer report ends the process as it would under libFuzzer.
 *
 *   cc -fsanitize=address,undefined target.c <library sources> replay_main.c -o target-replay
 *   ./target-replay fuzz/corpus/TARGET fuzz/crashes/TARGET
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *data = malloc(cap);
    for (size_t got; data && (got = fread(data + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return 1;
    }
    /* An exact-size copy, so that a read past the input's end is an ASan report here too. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, data, n);
    free(data);
    printf("Running: %s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int failures = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;  /* libFuzzer flags (-runs=0, ...) are accepted and ignored */
        struct stat st;
        if (stat(argv[i], &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) {
            failures += run_file(argv[i]);
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) continue;
        char **names = NULL;
        size_t count = 0;
        for (struct dirent *e; (e = readdir(d));) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            names = realloc(names, (count + 1) * sizeof *names);
            names[count++] = strdup(path);
        }
        closedir(d);
        qsort(names, count, sizeof *names, compare);
        for (size_t k = 0; k < count; k++) {
            failures += run_file(names[k]);
            inputs++;
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", inputs);
    return failures ? 1 : 0;
}
