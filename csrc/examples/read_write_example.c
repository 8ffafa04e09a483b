/*
 * Embedding zarrs-cffi from C: open an array written from Python, read a region into our own
 * buffer, write one chunk, and report errors. Built against the header and the shared library the
 * installed Python package ships (zarrs_cffi.get_include(), zarrs_cffi.get_library()).
 *
 * usage: read_write_example STORE_URL NODE [OPTIONS_JSON]
 *   STORE_URL is a directory path or a store URL (file://, s3://bucket/prefix, gs://, az://,
 *   http(s):// (read-only), zip:///path/data.zip (read-only)); OPTIONS_JSON its storage options, e.g.
 *   '{"endpoint": "http://127.0.0.1:9000", "region": "us-east-1", "allow_http": true}'.
 *   The array must be 2-D uint16 with at least 4x4 elements and chunks of at most 64x64.
 *   Prints the 4x4 region at the origin as "region r c value" lines, then overwrites chunk (0, 0)
 *   with value 1000 + linear index, and prints "wrote chunk 0 0 of SHAPE0xSHAPE1".
 * Exit status: 0 on success, 1 on a zarrs error (its message goes to stderr), 2 on bad usage.
 *
 * Written in C89 (declarations at the top of blocks, no // comments) and built with
 * -std=c89 -pedantic -Werror, as a legacy C codebase would include the header.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "zarrs_cffi.h"

/* Print this thread's error message for a failed zarrsCffi* call and return 1. */
static int report(const char *what, int32_t rc) {
  char *message = zarrsCffiLastError();
  fprintf(stderr, "error: %s failed with code %d: %s\n", what, rc, message ? message : "");
  zarrsFreeString(message);
  return 1;
}

int main(int argc, char **argv) {
  int status = 0;
  ZarrsCffiStorage storage = NULL;
  ZarrsCffiArray array = NULL;
  uint16_t *chunk = NULL;
  int32_t rc;
  size_t ndim = 0;
  ZarrsDataType dtype;
  uint16_t region[4][4];
  const uint64_t start[2] = {0, 0};
  const uint64_t shape[2] = {4, 4};
  const uint64_t chunk_index[2] = {0, 0};
  uint64_t chunk_shape[2];
  const uint64_t outside[2] = {1u << 30, 0};
  size_t count, i;
  int r, c;
  char *message;

  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: %s STORE_URL NODE [OPTIONS_JSON]\n", argv[0]);
    return 2;
  }

  /* A path or a URL plus options: no request is made until the store is used. */
  if ((rc = zarrsCffiCreateStorageFromUrl(argv[1], argc == 4 ? argv[3] : NULL, &storage)) != 0) {
    return report("zarrsCffiCreateStorageFromUrl", rc);
  }
  if ((rc = zarrsCffiOpenArray(storage, argv[2], &array)) != 0) {
    status = report("zarrsCffiOpenArray", rc);
    goto done;
  }
  /* The array holds its own reference to the store: the storage handle can go now. */
  zarrsCffiDestroyStorage(storage);
  storage = NULL;

  /* Upstream's zarrsArray* functions take the upstream handle inside ours (lent, not owned). */
  if (zarrsArrayGetDimensionality(zarrsCffiArrayUpstream(array), &ndim) != ZARRS_SUCCESS ||
      ndim != 2 ||
      zarrsArrayGetDataType(zarrsCffiArrayUpstream(array), &dtype) != ZARRS_SUCCESS ||
      dtype != ZARRS_UINT16) {
    fprintf(stderr, "error: expected a 2-D uint16 array\n");
    status = 1;
    goto done;
  }

  /* Read the 4x4 region at the origin straight into our own buffer. */
  if ((rc = zarrsCffiArrayRetrieveSubsetInto(array, 2, start, shape, sizeof region,
                                             (uint8_t *)region)) != 0) {
    status = report("zarrsCffiArrayRetrieveSubsetInto", rc);
    goto done;
  }
  for (r = 0; r < 4; r++) {
    for (c = 0; c < 4; c++) {
      printf("region %d %d %u\n", r, c, (unsigned)region[r][c]);
    }
  }

  /* Overwrite chunk (0, 0): full chunk shape, C order, native endian. */
  if ((rc = zarrsArrayGetChunkShape(zarrsCffiArrayUpstream(array), 2, chunk_index,
                                    chunk_shape)) != ZARRS_SUCCESS) {
    status = report("zarrsArrayGetChunkShape", rc);
    goto done;
  }
  count = (size_t)(chunk_shape[0] * chunk_shape[1]);
  chunk = malloc(count * sizeof *chunk);
  if (chunk == NULL) {
    fprintf(stderr, "error: out of memory\n");
    status = 1;
    goto done;
  }
  for (i = 0; i < count; i++) {
    chunk[i] = (uint16_t)(1000 + i);
  }
  if ((rc = zarrsCffiArrayStoreChunk(array, 2, chunk_index, count * sizeof *chunk,
                                     (const uint8_t *)chunk)) != 0) {
    status = report("zarrsCffiArrayStoreChunk", rc);
    goto done;
  }
  printf("wrote chunk 0 0 of %" PRIu64 "x%" PRIu64 "\n", chunk_shape[0], chunk_shape[1]);

  /* Errors come back as codes with a per-thread message, never as a crash. */
  rc = zarrsCffiArrayEraseChunk(array, 2, outside);
  message = zarrsCffiLastError();
  printf("expected error %d: %s\n", rc, message);
  zarrsFreeString(message);

done:
  free(chunk);
  if (array != NULL) zarrsCffiDestroyArray(array);
  if (storage != NULL) zarrsCffiDestroyStorage(storage);
  return status;
}
