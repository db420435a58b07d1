import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http2";
import { callerKey } from "../context/caller.js";
import { peerKey } from "../context/inbound-call.js";
import { firstHeader, type RawHeaderSource } from "../context/raw-header.js";
import type { Peer } from "../identity/peer.js";

/**
 * A HandlerContext for the fast gRPC path. Connect's createHandlerContext
 * builds three Headers objects and two linked AbortControllers for every call;
 * most handlers read one header and never touch the signal. This one builds
 * each of them on first use, and keeps the call's abort reason so that a
 * signal first read after the call was cancelled is already aborted.
 */
export class GrpcHandlerContext implements HandlerContext, RawHeaderSource {
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private reqHeader: Headers | undefined;
  private resHeader: Headers | undefined;
  private resTrailer: Headers | undefined;
  private ctxValues: ContextValues | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    private readonly rawHeaders: IncomingHttpHeaders,
    private readonly deadline: number | undefined,
    /** The caller's address, put in the context values as `peerKey`. */
    private readonly peer: string | undefined,
    /** Who called, put in the context values as `callerKey`. */
    private readonly caller: Peer,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) {
        this.controller.abort(this.abortReason);
      }
    }
    return this.controller.signal;
  }

  readonly timeoutMs = (): number | undefined =>
    this.deadline === undefined ? undefined : this.deadline - Date.now();

  /**
   * One request header as the client sent it (the first value if repeated),
   * without building `requestHeader`: tracing reads traceparent this way on
   * every call.
   */
  rawHeader(name: string): string | undefined {
    return firstHeader(this.rawHeaders[name]);
  }

  get requestHeader(): Headers {
    if (this.reqHeader === undefined) {
      this.reqHeader = new Headers();
      for (const [name, value] of Object.entries(this.rawHeaders)) {
        if (name.startsWith(":") || value === undefined) {
          continue;
        }
        for (const v of Array.isArray(value) ? value : [value]) {
          this.reqHeader.append(name, v);
        }
      }
    }
    return this.reqHeader;
  }

  get responseHeader(): Headers {
    return (this.resHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.resTrailer ??= new Headers());
  }

  get values(): ContextValues {
    return (this.ctxValues ??= createContextValues().set(peerKey, this.peer).set(callerKey, this.caller));
  }

  /** The response headers the handler set, if it set any. */
  get responseHeaderIfSet(): Headers | undefined {
    return this.resHeader;
  }

  /** The response trailers the handler set, if it set any. */
  get responseTrailerIfSet(): Headers | undefined {
    return this.resTrailer;
  }

  /** Cancels the call: the signal aborts with `reason` (now or when first read). */
  abort(reason: unknown): void {
    if (this.aborted) {
      return;
    }
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
