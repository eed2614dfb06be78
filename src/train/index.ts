export type { EpochRecord, BatchRecord, History, LrFinderResult } from "./history";
