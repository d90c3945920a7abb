// The dataset encryption worker (entry point of static/js/worker.js).
export {};
