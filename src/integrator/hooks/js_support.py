"""What the JavaScript runtime installs in every V8 context, and how it rewrites a script.

``BOOTSTRAP`` runs once per isolate, before any script. It defines the one global the runtime
talks to, ``__integrator`` (``run``, ``poll``, ``settle``, ``logs``), the ``console`` that
collects a call's log lines, and the ``integrator-api`` module. Everything crosses the
boundary as JSON text: Python embeds JSON in the code it evaluates, and every answer is a
string whose first character says what it is:

* ``V<logs JSON>\\n<value JSON>``: the function returned a value;
* ``E<logs JSON>\\n{"code", "message", "compiled"}``: it threw, or returned no JSON data;
* ``P<requests JSON>``: not finished; it waits for API requests (``[[id, method, path,
  body]]``, answered with ``settle``) or for a timer, and Python asks again with ``poll``.

A call ends when the function's result (a Promise is awaited) is settled and every API request
it started has been answered, so a ``state.put`` the script did not await still happens.

``rewrite_modules`` turns integrator.io's ES module imports into bindings of the modules the
runtime provides, line for line, so the script can be compiled as a function body::

    import { exports, imports } from 'integrator-api';
    # becomes
    const { exports, imports } = __integratorModule("integrator-api");
"""

from __future__ import annotations

import json
import re

__all__ = ["BOOTSTRAP", "MAX_FILL", "rewrite_modules"]

#: ``Array.prototype.fill`` on a huge sparse array (``new Array(1e9).fill(1)``) runs in C++
#: without checking for termination and aborts the process when its dictionary outgrows V8's
#: limit, whatever the time and memory limits say; hooks may fill at most this many elements
#: in one call.
MAX_FILL = 10_000_000

_IMPORT = re.compile(
    r"""^(?P<indent>[ \t]*)import\s+(?:(?P<clause>[\w$\s{},*]+?)\s*from\s*)?"""
    r"""(?P<quote>['"])(?P<module>[^'"\n]+)(?P=quote)[ \t]*;?""",
    re.MULTILINE,
)
_EXPORT_KEYWORD = re.compile(
    r"^(?P<indent>[ \t]*)export\s+(?:default\s+)?"
    r"(?=(?:async\s+)?function\b|class\b|const\b|let\b|var\b)",
    re.MULTILINE,
)
_EXPORT_LIST = re.compile(r"^(?P<indent>[ \t]*)export\s*\{[^}]*\}[ \t]*;?", re.MULTILINE)


def rewrite_modules(source: str) -> str:
    """``source`` with ``import ... from 'module'`` lines turned into constants bound to
    ``__integratorModule(name)`` (which throws "module 'x' is not available" for anything but
    ``integrator-api``), and ``export`` keywords dropped: the script runs as a function body,
    where neither is allowed. Line numbers do not change.

    >>> rewrite_modules("import api, { state as s } from 'integrator-api';")
    'const { default: api, state: s } = __integratorModule("integrator-api");'
    """
    source = _IMPORT.sub(_binding, source)
    source = _EXPORT_LIST.sub(lambda m: m["indent"] + "\n" * m[0].count("\n"), source)
    return _EXPORT_KEYWORD.sub(lambda m: m["indent"], source)


def _binding(match: re.Match[str]) -> str:
    module = f"__integratorModule({json.dumps(match['module'])})"
    newlines = "\n" * match[0].count("\n")
    clause = " ".join((match["clause"] or "").split())
    if not clause:
        return f"{match['indent']}{module};{newlines}"
    default, _, rest = (
        clause.partition(",") if not clause.startswith(("{", "*")) else ("", "", clause)
    )
    default, rest = default.strip(), rest.strip()
    if rest.startswith("*"):
        namespace = rest.removeprefix("*").strip().removeprefix("as").strip()
        statement = f"const {namespace} = {module}"
        if default:
            statement += f", {default} = {namespace}.default"
        return f"{match['indent']}{statement};{newlines}"
    names = [part.strip() for part in rest.strip("{} ").split(",") if part.strip()]
    names = [re.sub(r"\s+as\s+", ": ", name) for name in names]
    if default:
        names.insert(0, f"default: {default}")
    return f"{match['indent']}const {{ {', '.join(names)} }} = {module};{newlines}"


BOOTSTRAP = r"""
(() => {
  "use strict";
  const g = globalThis;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const isArray = Array.isArray;
  const apply = Reflect.apply;
  const now = Date.now;
  const NativeDate = Date;
  const NativeError = Error;
  const NativePromise = Promise;
  const NativeFunction = Function;
  const MAX_FILL = __MAX_FILL__;

  delete g.WebAssembly;  // hooks need no compiled code, and its memory is outside the heap

  const nativeFill = Array.prototype.fill;
  const relative = (value, length, otherwise) => {
    if (value === undefined) return otherwise;
    const n = Math.trunc(Number(value)) || 0;
    return n < 0 ? Math.max(length + n, 0) : Math.min(n, length);
  };
  Object.defineProperty(Array.prototype, "fill", {
    value: function fill(value, start, end) {
      const length = Math.max(Math.trunc(Number(Object(this).length)) || 0, 0);
      const from = relative(start, length, 0);
      const to = relative(end, length, length);
      if (to - from > MAX_FILL) {
        throw new RangeError(`Array.prototype.fill: ${to - from} elements are more than `
          + `a hook may fill at once (${MAX_FILL}).`);
      }
      return apply(nativeFill, this, [value, from, to]);
    },
    writable: false, enumerable: false, configurable: false,
  });

  let call = null;  // the running call: its function name, logs and limits

  const inspect = (value) => {
    switch (typeof value) {
      case "string": return value;
      case "undefined": return "undefined";
      case "function": return `[Function: ${value.name || "(anonymous)"}]`;
      case "bigint": return `${value}n`;
      case "symbol": return value.toString();
      case "object":
        if (value === null) return "null";
        if (value instanceof NativeError) return value.stack || `${value.name}: ${value.message}`;
        try {
          const text = stringify(value);
          if (text !== undefined) return text;
        } catch {
          const seen = new WeakSet();
          return stringify(value, (key, item) => {
            if (typeof item === "bigint") return `${item}n`;
            if (typeof item === "object" && item !== null) {
              if (seen.has(item)) return "[Circular]";
              seen.add(item);
            }
            return item;
          });
        }
        return String(value);
      default: return String(value);
    }
  };

  // Node's console: printf-style %s %d %i %f %j %o %O %c in a first string argument.
  const format = (args) => {
    let rest = 0;
    let head = [];
    if (typeof args[0] === "string" && args.length > 1 && args[0].includes("%")) {
      rest = 1;
      head = [args[0].replace(/%[sdifjoOc%]/g, (spec) => {
        if (spec === "%%") return "%";
        if (rest >= args.length) return spec;
        const arg = args[rest++];
        switch (spec) {
          case "%s": return typeof arg === "object" && arg !== null ? inspect(arg) : String(arg);
          case "%d": return typeof arg === "object" ? "NaN" : String(Number(arg));
          case "%i": return String(parseInt(arg, 10));
          case "%f": return String(parseFloat(arg));
          case "%c": return "";
          default: return inspect(arg);
        }
      })];
    }
    return head.concat(args.slice(rest).map(inspect)).join(" ");
  };

  const record = (level, args) => {
    if (call === null) return;
    if (call.logs.length >= call.maxLines) {
      call.dropped += 1;
      return;
    }
    let message = format(args);
    if (message.length > call.maxChars) message = message.slice(0, call.maxChars);
    call.logs.push([level, message, now() / 1000]);
  };
  const console = {};
  for (const [name, level] of [["log", "log"], ["info", "info"], ["warn", "warn"],
      ["error", "error"], ["debug", "debug"], ["trace", "debug"], ["dir", "log"]]) {
    console[name] = (...args) => record(level, args);
  }
  Object.defineProperty(g, "console", { value: console, writable: true, configurable: true });

  // integrator-api: every function returns a Promise; Python answers the request.
  let nextRequest = 1;
  let queue = [];
  const waiting = new Map();
  const request = (method, path, body) => {
    if (call === null || !call.hasApi) {
      throw new NativeError("The integrator-api module is not available here.");
    }
    const text = body === undefined ? "null" : stringify(body);
    const id = nextRequest++;
    const json = text === undefined ? "null" : text;
    queue.push(`[${id},${stringify(method)},${stringify(path)},${json}]`);
    return new NativePromise((resolve, reject) => waiting.set(id, [resolve, reject]));
  };
  const segment = (name, value) => {
    if (typeof value !== "string" || value === "") {
      throw new TypeError(`${name} must be a non-empty string.`);
    }
    return encodeURIComponent(value);
  };
  const field = (value, name) => (
    value !== null && typeof value === "object" ? value[name] : value);
  const promising = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      return NativePromise.reject(error);
    }
  };
  const api = {
    exports: { run: promising((options) => {
      const { _id, ...body } = options || {};
      return request("POST", `/v1/exports/${segment("_id", _id)}/invoke`, body);
    }) },
    imports: { run: promising((options) => {
      const { _id, data } = options || {};
      return request("POST", `/v1/imports/${segment("_id", _id)}/invoke`, data);
    }) },
    flows: { run: promising((options) => {
      return request("POST", `/v1/flows/${segment("_id", field(options, "_id"))}/run`);
    }) },
    connections: { get: promising((id) => {
      return request("GET", `/v1/connections/${segment("_id", field(id, "_id"))}`);
    }) },
    state: {
      get: promising((key) => request("GET", `/v1/state/${segment("key", field(key, "key"))}`)),
      put: promising((key, value) => {
        const body = key !== null && typeof key === "object" ? key.value : value;
        return request("PUT", `/v1/state/${segment("key", field(key, "key"))}`, body);
      }),
      delete: promising((key) => {
        return request("DELETE", `/v1/state/${segment("key", field(key, "key"))}`);
      }),
    },
  };
  for (const part of Object.values(api)) Object.freeze(part);
  api.default = api;
  Object.freeze(api);

  const modules = (name) => {
    if (name === "integrator-api") return api;
    throw new NativeError(`module '${name}' is not available`);
  };

  const scripts = new Map();  // source key -> {lookup, functions}

  const define = (key, source) => {
    const factory = new NativeFunction("__integratorModule",
      `${source}\n;return (__integratorName) => eval(__integratorName);`);
    scripts.set(key, { lookup: factory(modules), functions: new Map() });
  };

  const find = (key, name) => {
    const script = scripts.get(key);
    if (script === undefined) return null;
    if (!script.functions.has(name)) {
      let fn;
      try {
        fn = script.lookup(name);
      } catch {
        fn = undefined;
      }
      script.functions.set(name, typeof fn === "function" ? fn : undefined);
    }
    return script.functions.get(name);
  };

  const describe = (error) => {
    try {
      if (error !== null && typeof error === "object" && "message" in error) {
        const name = String(error.name || "Error");
        return name === "Error" ? String(error.message) : `${name}: ${error.message}`;
      }
    } catch {}
    return inspect(error);
  };

  const failure = (code, message, compiled = true) => ["E", stringify({ code, message, compiled })];
  const answer = (state, value) => {
    let text;
    try {
      text = stringify(value);
    } catch (error) {
      const message = `${state.name} returned something that is not JSON data: ${describe(error)}`;
      return failure("invalid_response", message);
    }
    if (text === undefined) {
      const what = typeof value === "function" ? "a function"
        : typeof value === "symbol" ? "a symbol" : "undefined";
      return failure("invalid_response", `${state.name} returned ${what}; it must return JSON.`);
    }
    return ["V", text];
  };
  const thenable = (value) => value !== null
    && (typeof value === "object" || typeof value === "function")
    && typeof value.then === "function";

  const logText = () => {
    const logs = call.logs.slice();
    if (call.dropped > 0) {
      const message = `${call.dropped} more log lines were dropped (${call.maxLines} kept).`;
      logs.push(["warn", message, now() / 1000]);
    }
    return stringify(logs);
  };

  const poll = () => {
    if (call.reply !== null && waiting.size === 0) {
      return `${call.reply[0]}${logText()}\n${call.reply[1]}`;
    }
    const requests = `P[${queue.join(",")}]`;
    queue = [];
    return requests;
  };

  const run = (key, source, name, optionsText, eachText, hasApi, maxLines, maxChars, forget) => {
    for (const old of forget) scripts.delete(old);
    const state = { name, logs: [], dropped: 0, maxLines, maxChars, hasApi, reply: null };
    call = state;
    queue = [];
    waiting.clear();
    if (source !== null) {
      try {
        define(key, source);
      } catch (error) {
        state.reply = failure("script_error", describe(error), false);
        return poll();
      }
    }
    let result;
    try {
      const options = parse(optionsText);
      const each = eachText === null ? null : parse(eachText);
      const fn = find(key, name);
      if (fn === null) {
        const message = "The script was not compiled; the next call compiles it.";
        state.reply = failure("script_error", message, false);
        return poll();
      }
      if (fn === undefined) {
        state.reply = failure("function_not_found", `The script has no function named '${name}'.`);
        return poll();
      }
      for (const field of ["lastExportDateTime", "currentExportDateTime"]) {
        if (typeof options[field] === "string") {
          const date = new NativeDate(options[field]);
          if (!Number.isNaN(date.getTime())) options[field] = date;
        }
      }
      if (each === null) {
        result = fn(options);
      } else {
        result = each.map((record) => fn({ ...options, record }));
        if (result.some(thenable)) result = NativePromise.all(result);
      }
    } catch (error) {
      state.reply = failure("script_error", describe(error));
      return poll();
    }
    if (thenable(result)) {
      NativePromise.resolve(result).then(
        (value) => { state.reply = answer(state, value); },
        (error) => { state.reply = failure("script_error", describe(error)); },
      );
    } else {
      state.reply = answer(state, result);
    }
    return poll();
  };

  const settle = (results) => {
    for (const [id, ok, value, status] of results) {
      const resolvers = waiting.get(id);
      if (resolvers === undefined) continue;
      waiting.delete(id);
      if (ok) {
        resolvers[0](value);
      } else {
        const error = new NativeError(value);
        error.status = status;
        resolvers[1](error);
      }
    }
    return "";
  };

  const logs = () => (call === null ? "[]" : logText());

  Object.defineProperty(g, "__integrator", {
    value: Object.freeze({ run, poll, settle, logs }),
    writable: false, enumerable: false, configurable: false,
  });
})();
""".replace("__MAX_FILL__", str(MAX_FILL))
