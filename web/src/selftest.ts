// Entry point of static/js/selftest.js: the known-answer checks the tests run in a real browser
// (tests/vectors/web/*.json, the same vectors the Python implementation is checked against).
export * from "./selftest/crypto";
export * from "./selftest/verify";
export * from "./selftest/csv";
export * from "./selftest/media";
export * from "./selftest/commits";
