export const DIST_URL: URL;
export function fromDist(path: string): Promise<any>;
export function fromDistIfAny(path: string): Promise<any | null>;
