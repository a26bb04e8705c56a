namespace RdmaCs.Transfer;

public enum EngineLogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>Where the engine says what happened; QEMU's host API, the console, or a test's list.</summary>
public delegate void EngineLog(EngineLogLevel level, string message);

/// <summary>The engine failed earlier (a fabric error, most often); <see cref="Exception.InnerException"/> says why.</summary>
public sealed class EngineFailedException(string message, Exception inner) : Exception(message, inner);
