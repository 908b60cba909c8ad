// Loads libxml2-wasm before tsx's hooks are registered, for a thread that registers them itself
// (the sandbox's examine worker): tsx would otherwise rewrite its ~1 MB of inlined WebAssembly
// for nothing, at ~150 MB of extra RSS (measured). Plain JavaScript, since it runs before tsx.
// The binding itself is used through binding.ts only.
import 'libxml2-wasm';
