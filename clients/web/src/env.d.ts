/// <reference types="vite/client" />

declare module 'virtual:session-graph' {
  // An ambient module cannot `import type` from a relative path.
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports
  const graph: import('./live/graph-types.js').SessionGraph;
  export default graph;
}
