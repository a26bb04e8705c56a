namespace RdmaCs.Transfer;

/// <summary>
/// Starts the engine's own threads. In a host like QEMU an exception that escapes a thread ends the whole process
/// (and the guest with it), so every body runs under a last catch that logs what escaped instead: whatever a thread
/// failed to do is reported by the caller that waits for it (a flush, a session), never by a crash.
/// </summary>
public static class BackgroundThread
{
    public static Thread Start(string name, Action body, EngineLog log)
    {
        var thread = new Thread(() => RunGuarded(name, body, log)) { IsBackground = true, Name = name };
        thread.Start();
        return thread;
    }

    /// <summary>Runs <paramref name="body"/>; an exception it lets out is logged as an error, not thrown.</summary>
    public static void RunGuarded(string name, Action body, EngineLog log)
    {
        try
        {
            body();
        }
        catch (Exception e)
        {
            try
            {
                log(EngineLogLevel.Error, $"thread {name} stopped on an unexpected error: {e.GetType().Name}: {e.Message}");
            }
            catch
            {
                // The log itself failed (its host is gone): there is nobody left to tell.
            }
        }
    }
}
