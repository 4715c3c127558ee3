// k6's `k6/experimental/websockets`, the name `k6/websockets` had before k6 v1.
export * from '../websockets.js';
export { default } from '../websockets.js';
