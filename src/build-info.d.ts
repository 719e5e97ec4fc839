declare const __SEAL_COMMIT__: string;
