/*
 * The C side of the benchmark's call-overhead probe: the same small read that Python's
 * Array.read_into makes (with the decoded-chunk cache, as the benchmark's small-region reads
 * use), called in a tight C loop over the same library. Python's per-call time minus this one is
 * the Python-side overhead.
 *
 * usage: c_overhead STORE_ROOT NODE START:STOP,START:STOP,... ITERATIONS
 * prints: {"ns_per_call": X}   (median of 5 batches)
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zarrs_cffi.h"

#define MAX_DIMS 16
#define BATCHES 5

static int fail(const char *what, int32_t rc) {
  char *message = zarrsCffiLastError();
  fprintf(stderr, "%s failed (%d): %s\n", what, rc, message ? message : "");
  zarrsFreeString(message);
  return 1;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s STORE_ROOT NODE START:STOP,... ITERATIONS\n", argv[0]);
    return 2;
  }
  uint64_t start[MAX_DIMS], shape[MAX_DIMS];
  size_t ndim = 0;
  for (char *part = strtok(argv[3], ","); part != NULL && ndim < MAX_DIMS;
       part = strtok(NULL, ",")) {
    unsigned long long lo, hi;
    if (sscanf(part, "%llu:%llu", &lo, &hi) != 2 || hi < lo) {
      fprintf(stderr, "bad region part %s\n", part);
      return 2;
    }
    start[ndim] = lo;
    shape[ndim] = hi - lo;
    ndim++;
  }
  long iterations = atol(argv[4]);
  if (iterations <= 0) return 2;

  ZarrsCffiStorage storage;
  ZarrsCffiArray array;
  int32_t rc;
  if ((rc = zarrsCffiCreateStorageFilesystem(argv[1], &storage))) return fail("storage", rc);
  if ((rc = zarrsCffiOpenArray(storage, argv[2], &array))) return fail("open", rc);
  if ((rc = zarrsCffiArraySetChunkCache(array, (size_t)512 << 20))) return fail("cache", rc);

  size_t bytes = 0;
  if ((rc = zarrsArrayGetSubsetSize(zarrsCffiArrayUpstream(array), ndim, shape, &bytes))) return fail("size", rc);
  uint8_t *out = malloc(bytes ? bytes : 1);
  if (out == NULL) return 1;

  double per_call[BATCHES];
  for (long i = 0; i < 50; i++) { /* warm-up: fills the cache */
    if ((rc = zarrsCffiArrayRetrieveSubsetInto(array, ndim, start, shape, bytes, out)))
      return fail("read", rc);
  }
  for (int b = 0; b < BATCHES; b++) {
    double t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
      rc = zarrsCffiArrayRetrieveSubsetInto(array, ndim, start, shape, bytes, out);
    }
    per_call[b] = (now_ns() - t0) / (double)iterations;
    if (rc) return fail("read", rc);
  }
  qsort(per_call, BATCHES, sizeof per_call[0], compare);
  printf("{\"ns_per_call\": %.1f}\n", per_call[BATCHES / 2]);

  free(out);
  zarrsCffiDestroyArray(array);
  zarrsCffiDestroyStorage(storage);
  return 0;
}
