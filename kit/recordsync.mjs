// recordsync browser kit as an ES module:
//
//   import RecordSync, { watchRecord, watchList } from '/ws/recordsync.mjs';
//
// It loads the classic script next to it (recordsync.js, which sets
// window.RecordSync once however often it is loaded) and re-exports its API.
import './recordsync.js';

const RecordSync = globalThis.RecordSync;
export default RecordSync;
export const {
  version, configure, config, watchRecord, watchList, join, tabId, tabTag, socketId, connection, onStatus, compareVersions,
  formatTime, clearDrafts, useEcho, inertia,
} = RecordSync;
