'use strict'
// Node preload for the test emulators: node -r ./loopback.cjs <emulator> ...
//
// 1. Loopback only. kinesalite's cli.js and kinesis-local's main.js have no
//    host option and listen on every interface. net.Server.prototype.listen
//    (which http, https and tls servers inherit) is rewritten so that every
//    TCP listen binds 127.0.0.1, whatever host, if any, the caller passed.
//    Unix socket paths and handle/fd listens are left alone.
//
// 2. Client aborts never kill the process. kinesalite 3.3.3 registers
//    req.on('error', err => { throw err }), so a client that aborts a request
//    mid-flight (ECONNRESET "aborted", e.g. a consumer cancelling GetRecords on
//    Close) makes it exit. Every incoming socket, http request and response
//    gets a no-op 'error' listener, and an 'error' listener on an incoming
//    request that rethrows the very error it was given is wrapped so the
//    rethrow is logged and dropped instead of becoming an uncaught exception.
//
// Set LOOPBACK_HOST to bind another address (default 127.0.0.1).

const net = require('net')
const http = require('http')

const HOST = process.env.LOOPBACK_HOST || '127.0.0.1'
const noop = () => {}

function log(msg) {
  process.stderr.write('[loopback.cjs] ' + msg + '\n')
}

function isPortLike(v) {
  return typeof v === 'number' || (typeof v === 'string' && v !== '' && !isNaN(Number(v)))
}

// toOptions turns the arguments of a TCP listen call into [options, cb],
// or returns null when the call is not a TCP listen (path, handle, fd).
function toOptions(args) {
  const a = Array.prototype.slice.call(args)
  let cb
  if (a.length && typeof a[a.length - 1] === 'function') cb = a.pop()

  // listen() / listen(cb): random port on every interface.
  if (a.length === 0 || a[0] === undefined || a[0] === null) {
    return [{ port: 0, host: HOST }, cb]
  }
  const first = a[0]
  // listen(options[, cb])
  if (typeof first === 'object') {
    if (first.path !== undefined || first.fd !== undefined || first._handle || first.handle) return null
    if (first.port === undefined && first.host === undefined) return null // a bare handle object
    return [Object.assign({}, first, { host: HOST }), cb]
  }
  // listen(port[, host][, backlog][, cb])
  if (isPortLike(first)) {
    const opts = { port: Number(first), host: HOST }
    for (const v of a.slice(1)) {
      if (typeof v === 'number') opts.backlog = v // host is ignored: always HOST
    }
    return [opts, cb]
  }
  return null // listen(path[, backlog][, cb])
}

const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function listen() {
  const conv = toOptions(arguments)
  if (!conv) return origListen.apply(this, arguments)
  const [opts, cb] = conv
  if (!this.__loopbackErrorGuards) {
    this.__loopbackErrorGuards = true
    this.on('connection', (sock) => { sock.on('error', noop) })
    this.on('secureConnection', (sock) => { sock.on('error', noop) })
    // http and https servers emit 'request'; plain net/tls servers never do.
    this.prependListener('request', (req, res) => {
      req.on('error', noop)
      res.on('error', noop)
    })
  }
  this.once('listening', () => {
    const addr = this.address()
    if (addr && typeof addr === 'object') log('listening on ' + addr.address + ':' + addr.port)
  })
  return cb ? origListen.call(this, opts, cb) : origListen.call(this, opts)
}

// Wrap 'error' listeners added to incoming requests so that a listener which
// rethrows the error it received (kinesalite's) cannot crash the process.
function guard(fn) {
  // fn.listener is set on once() wrappers: leave those alone so removal works.
  if (typeof fn !== 'function' || fn.__loopbackGuard || fn.listener) return fn
  const wrapped = function (err) {
    try {
      return fn.apply(this, arguments)
    } catch (e) {
      if (e === err) {
        log('ignored request error: ' + (err && (err.code || err.message)))
        return
      }
      throw e
    }
  }
  wrapped.__loopbackGuard = true
  wrapped.listener = fn // lets removeListener(fn) find the wrapper
  return wrapped
}

const IM = http.IncomingMessage.prototype
for (const name of ['on', 'addListener', 'prependListener']) {
  const orig = IM[name]
  IM[name] = function (event, fn) {
    return orig.call(this, event, event === 'error' ? guard(fn) : fn)
  }
}
