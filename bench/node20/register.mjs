// node --import bench/node20/register.mjs …: lets @modelcontextprotocol/conformance (which wants Node 22)
// load on Node 20. See hooks.mjs.
import { register } from "node:module";
register("./hooks.mjs", import.meta.url);
