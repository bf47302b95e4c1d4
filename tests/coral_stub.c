/* A stand-in for libedgetpu.so.1: exports the TFLite delegate plug-in entry points, records the options it receives
   and that the interpreter asked it to prepare the graph, and claims no ops (so the model still runs on the CPU).
   It proves edgekit's Coral path up to the shared-library boundary; nothing here talks to an Edge TPU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TfLiteDelegate {
  void* data_;
  int (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  int (*CopyFromBufferHandle)(void*, struct TfLiteDelegate*, int, void*);
  int (*CopyToBufferHandle)(void*, struct TfLiteDelegate*, int, void*);
  void (*FreeBufferHandle)(void*, struct TfLiteDelegate*, int*);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static void log_line(const char* line) {
  const char* path = getenv("EDGEKIT_STUB_LOG");
  if (!path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

static int prepare(void* context, TfLiteDelegate* delegate) {
  (void)context; (void)delegate;
  log_line("prepare");
  return 0; /* kTfLiteOk, no nodes replaced */
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n, void (*report_error)(const char*)) {
  (void)report_error;
  char buf[512];
  for (size_t i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "option %s=%s", keys[i], values[i]);
    log_line(buf);
  }
  TfLiteDelegate* d = calloc(1, sizeof *d);
  d->Prepare = prepare;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  log_line("destroy");
  free(d);
}
