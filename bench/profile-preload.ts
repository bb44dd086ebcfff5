/**
 * Preloaded (`node --import`) into the profiled simplehttp: SIGTERM and SIGINT exit normally,
 * so `--cpu-prof` gets to write its .cpuprofile (a default signal death writes nothing).
 */
for (const signal of ["SIGTERM", "SIGINT"] as const) process.prependListener(signal, () => process.exit(0));
export {};
