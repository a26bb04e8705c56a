using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Cli.Qemu;
using RdmaCs.Configuration;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench soak</c>: the page-writer guest migrated over rdma-cs from QEMU to fresh QEMU, hop after hop, for a
/// given time, each migration with a random budget and, in about half of them, a fault at a random moment
/// (migrate_cancel, yank, the destination killed). After a completed migration the memories of both sides are compared
/// byte for byte and the guest continues on the destination; after a failed one the source guest must still run and
/// the source QEMU's VmLck must return to 0. Random choices come from one seed, printed, so that a run can be replayed.
/// </summary>
/// <remarks>
/// The page-writer guest reads its load once, at boot, so a load belongs to a guest, not to a migration: a guest is
/// booted with a random load and kept running across a random number of migrations (up to --guest-migrations), then
/// retired and the next one booted with another random load.
/// </remarks>
internal static class SoakBenchmark
{
    /// <param name="Minutes">How long to start migrations for (the one in progress then finishes).</param>
    /// <param name="GuestMigrations">Most migrations one guest makes before it is retired; 0: one guest for the whole run.</param>
    public sealed record Settings(double Minutes, long MemoryBytes, int? Seed, int GuestMigrations, string Provider, bool Json);

    private static readonly long[] Budgets = [4L << 20, 8L << 20, 16L << 20, 32L << 20, 64L << 20];
    private static readonly SoakFault[] Faults = [SoakFault.Cancel, SoakFault.Yank, SoakFault.Kill];
    private const double FaultShare = 0.5;

    /// <summary>A fault fires this long after <c>migrate</c>, log-uniformly: setup, bulk phase, completion, or after the end.</summary>
    private static readonly TimeSpan EarliestFault = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan LatestFault = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan BootWarmUp = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan GuestCheckWithin = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan UnlockWithin = TimeSpan.FromSeconds(10);

    /// <summary>A guest load with the short name the progress lines and JSON use.</summary>
    public sealed record Load(string Name, GuestLoad Guest);

    /// <summary>The loads a guest may boot with: all, busy, idle, and two hot sets sized after its RAM.</summary>
    public static IReadOnlyList<Load> Loads(long memoryBytes)
    {
        long small = Math.Max(1L << 20, (memoryBytes / 16) >> 20 << 20);
        long large = Math.Max(1L << 20, (memoryBytes / 2) >> 20 << 20);
        return
        [
            new("all", GuestLoad.AllMemory),
            new("busy", GuestLoad.Busy),
            new("idle", GuestLoad.Idle),
            new($"hot{ByteSize.Format(small)}", new GuestLoad(small)),
            new($"hot{ByteSize.Format(large)}-zero", new GuestLoad(large, LeaveRestZero: true)),
        ];
    }

    public static int Run(Settings settings)
    {
        if (!QemuBuild.Ensure("bench soak"))
        {
            return 1;
        }
        int seed = settings.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue);
        var random = new Random(seed);
        IReadOnlyList<Load> loads = Loads(settings.MemoryBytes);
        Console.Error.WriteLine(
            $"rdmacs bench soak: seed {seed} (replay with --seed {seed}); {settings.Minutes.ToString(CultureInfo.InvariantCulture)} min, " +
            $"{ByteSize.FormatApproximate(settings.MemoryBytes)} guest, rdma-cs over {settings.Provider}, budgets " +
            $"{ByteSize.Format(Budgets[0])}..{ByteSize.Format(Budgets[^1])}, loads {string.Join(" ", loads.Select(l => l.Name))}, " +
            $"a fault (cancel, yank, kill) in about half the migrations");

        var soak = new Soak(settings, Stopwatch.StartNew());
        TimeSpan duration = TimeSpan.FromMinutes(settings.Minutes);
        string? aborted = null;
        Guest? guest = null;
        try
        {
            while (soak.Clock.Elapsed < duration)
            {
                guest ??= soak.Boot(loads[random.Next(loads.Count)],
                    settings.GuestMigrations == 0 ? int.MaxValue : random.Next(1, settings.GuestMigrations + 1));
                // This migration's choices, drawn in a fixed order whatever happens, so that a seed replays them.
                long budget = Budgets[random.Next(Budgets.Length)];
                bool faulty = random.NextDouble() < FaultShare;
                SoakFault fault = Faults[random.Next(Faults.Length)];
                double delayMs = Math.Exp(random.NextDouble() * Math.Log(LatestFault.TotalMilliseconds / EarliestFault.TotalMilliseconds)) *
                                 EarliestFault.TotalMilliseconds;
                guest = soak.Migrate(guest, budget, faulty ? fault : SoakFault.None, TimeSpan.FromMilliseconds(delayMs));
            }
        }
        catch (Exception e)
        {
            // Only booting a guest gets here (a migration's own failures are counted): nothing more can run.
            aborted = $"{e.GetType().Name}: {e.Message}";
            Console.Error.WriteLine($"rdmacs bench soak: aborted: {aborted}");
        }
        finally
        {
            guest?.Machine.Dispose();
        }

        Tally t = soak.Tally;
        bool ok = aborted is null && t.Corrupted == 0 && t.LeftPinned == 0 && t.FailedUnexpectedly == 0 && t.GuestStopped == 0 && t.OverBudget == 0;
        var json = new JsonObject
        {
            ["ok"] = ok,
            ["seed"] = seed,
            ["minutes"] = settings.Minutes,
            ["elapsed_s"] = Report.Round(soak.Clock.Elapsed.TotalSeconds),
            ["memory_bytes"] = settings.MemoryBytes,
            ["provider"] = settings.Provider,
            ["guests"] = t.Guests,
            ["migrations"] = t.Migrations,
            ["completed"] = t.Completed,
            ["completed_despite_fault"] = t.CompletedDespiteFault,
            ["failed_as_injected"] = t.FailedAsInjected,
            ["failed_unexpectedly"] = t.FailedUnexpectedly,
            ["corrupted"] = t.Corrupted,
            ["left_pinned"] = t.LeftPinned,
            ["guest_stopped"] = t.GuestStopped,
            ["over_budget"] = t.OverBudget,
            ["faults_injected"] = Counts(t.FaultsInjected),
            ["faults_after_the_end"] = t.FaultsAfterTheEnd,
            ["loads"] = Counts(t.Loads),
            ["budgets"] = Counts(t.Budgets),
            ["slowest_injected_failure"] = t.SlowestFailure,
            ["unexpected_failures"] = t.UnexpectedFailures,
            ["problems"] = t.Problems,
        };
        if (aborted is not null)
        {
            json["aborted"] = aborted;
        }
        if (settings.Json)
        {
            Report.PrintJson(json);
        }
        else
        {
            foreach (string field in new[]
                     {
                         "seed", "elapsed_s", "guests", "migrations", "completed", "completed_despite_fault", "failed_as_injected",
                         "failed_unexpectedly", "corrupted", "left_pinned", "guest_stopped", "over_budget",
                     })
            {
                Report.Line(field, json[field]!.ToJsonString());
            }
            foreach (JsonNode? failure in t.UnexpectedFailures)
            {
                Report.Line("unexpected failure", $"#{failure!["migration"]}: {failure["error"]}");
            }
            foreach (JsonNode? problem in t.Problems)
            {
                Report.Line((string)problem!["kind"]!, $"#{problem["migration"]}: {problem["detail"]}");
            }
            Report.Line("verdict", ok ? "ok" : aborted is null ? "PROBLEMS (above)" : $"ABORTED: {aborted}");
        }
        return ok ? 0 : 1;
    }

    private static JsonObject Counts(SortedDictionary<string, int> counts) => new(counts.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value)));

    /// <summary>The counters of a run, and the details of everything that went wrong.</summary>
    private sealed class Tally
    {
        public int Guests, Migrations, Completed, CompletedDespiteFault, FailedAsInjected, FailedUnexpectedly;
        public int Corrupted, LeftPinned, GuestStopped, OverBudget, FaultsAfterTheEnd;
        public SortedDictionary<string, int> FaultsInjected { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, int> Loads { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, int> Budgets { get; } = new(StringComparer.Ordinal);
        public JsonArray UnexpectedFailures { get; } = [];
        public JsonArray Problems { get; } = [];

        /// <summary>The injected failure that took longest to end its migration, from the fault to the failed status.</summary>
        public JsonObject? SlowestFailure { get; private set; }

        public void NoteFailureTime(Hop hop, long milliseconds, string? error)
        {
            if (SlowestFailure is null || milliseconds > (long)SlowestFailure["ms_after_fault"]!)
            {
                SlowestFailure = new JsonObject
                {
                    ["migration"] = hop.Number,
                    ["fault"] = hop.Fault,
                    ["ms_after_fault"] = Math.Max(0, milliseconds),
                    ["error"] = error,
                };
            }
        }

        public static void Count(SortedDictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
    }

    /// <summary>A QEMU of the soak, with a second QMP socket so that yank can be sent out of band.</summary>
    private sealed class Machine : IDisposable
    {
        private Machine(QemuMachine qemu, string outOfBandSocket)
        {
            Qemu = qemu;
            OutOfBandSocket = outOfBandSocket;
        }

        public QemuMachine Qemu { get; }
        public string OutOfBandSocket { get; }

        public static Machine Source(string name, long memoryBytes, GuestLoad load)
        {
            string socket = NewSocket();
            return new Machine(QemuMachine.StartSource(name, memoryBytes, load, "-qmp", $"unix:{socket},server=on,wait=off"), socket);
        }

        public static Machine Destination(string name, long memoryBytes)
        {
            string socket = NewSocket();
            return new Machine(QemuMachine.StartDestination(name, memoryBytes, "-qmp", $"unix:{socket},server=on,wait=off"), socket);
        }

        private static string NewSocket() => Path.Combine(Path.GetTempPath(), $"rdmacs-soak-oob-{Guid.NewGuid():N}.sock");

        public void Dispose()
        {
            Qemu.Dispose();
            File.Delete(OutOfBandSocket);
        }
    }

    /// <summary>The running guest: which QEMU holds it now, its load, and how many more migrations it makes.</summary>
    private sealed class Guest(int number, Load load, int migrationsLeft, Machine machine)
    {
        public int Number { get; } = number;
        public Load Load { get; } = load;
        public int MigrationsLeft { get; set; } = migrationsLeft;
        public int Hops { get; set; }

        /// <summary>Migrations started so far (completed or not).</summary>
        public int Attempts { get; set; }
        public Machine Machine { get; set; } = machine;
    }

    /// <summary>One run: boots guests, migrates them, checks and counts.</summary>
    private sealed class Soak(Settings settings, Stopwatch clock)
    {
        public Stopwatch Clock { get; } = clock;
        public Tally Tally { get; } = new();

        public Guest Boot(Load load, int migrations)
        {
            int number = Tally.Guests + 1;
            Machine machine = Machine.Source($"soak-guest{number}", settings.MemoryBytes, load.Guest);
            Tally.Guests = number;
            Console.Error.WriteLine(
                $"soak {Clock.Elapsed:mm\\:ss} guest {number} boots: {load.Name} ({load.Guest}), " +
                $"{(migrations == int.MaxValue ? "for the whole run" : $"for {migrations} migration{(migrations == 1 ? "" : "s")}")}");
            Thread.Sleep(BootWarmUp); // it boots and starts rewriting its pages
            // Every page is checked whole after each hop: until the guest has written all of its RAM once, the
            // firmware's tables above its first sweep would count as torn.
            if (!machine.Qemu.Monitor.WaitForFirstSweep(TimeSpan.FromMinutes(2)))
            {
                machine.Dispose();
                throw new TimeoutException($"guest {number} did not write all of its RAM within 2 minutes");
            }
            return new Guest(number, load, migrations, machine);
        }

        /// <summary>One migration of <paramref name="guest"/> to a fresh QEMU; returns the guest to go on with, or null when it was lost or retired.</summary>
        public Guest? Migrate(Guest guest, long budget, SoakFault fault, TimeSpan faultDelay)
        {
            int number = ++Tally.Migrations;
            Tally.Count(Tally.Loads, guest.Load.Name);
            Tally.Count(Tally.Budgets, ByteSize.Format(budget));
            int attempt = ++guest.Attempts;
            var hop = new Hop(number, guest, budget, Clock.Elapsed, guest.Machine.Qemu.LogText.Length);
            Machine source = guest.Machine;
            Machine? destination = null;
            SoakFaultInjector? injector = null;
            var wall = Stopwatch.StartNew();
            string result;
            bool keepGuest;
            try
            {
                destination = Machine.Destination($"soak-m{number}", settings.MemoryBytes);
                var migration = new MigrationSettings
                {
                    Transport = MigrationTransport.RdmaCs,
                    Port = MigrationSettings.FreePort(),
                    ControlPort = MigrationSettings.FreePort(),
                    BudgetBytes = budget,
                    Token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
                    Provider = settings.Provider,
                };
                injector = new SoakFaultInjector(fault, faultDelay, source.Qemu, destination.Qemu, source.OutOfBandSocket);
                SoakFaultInjector armed = injector;
                MigrationOutcome outcome = LiveMigration.Run(source.Qemu, destination.Qemu, migration, MigrationTimeout, progress => armed.Arm(progress.Elapsed), PollInterval);
                injector.Disarm();
                hop.Fault = injector.Describe();
                if (injector.Injected)
                {
                    Tally.Count(Tally.FaultsInjected, SoakFaultInjector.Name(fault));
                }
                else if (fault != SoakFault.None && !injector.Fired)
                {
                    Tally.FaultsAfterTheEnd++;
                }
                if (outcome.PeakLockedBytes > budget)
                {
                    Tally.OverBudget++;
                    Problem(hop, "over_budget", $"the source's VmLck peaked at {outcome.PeakLockedBytes} bytes, above the budget of {budget}");
                }

                if (outcome.Status is not ("completed" or "failed" or "cancelled"))
                {
                    (result, keepGuest) = Unfinished(hop, guest, destination, outcome);
                }
                else if (!outcome.Completed)
                {
                    (result, keepGuest) = Failed(hop, guest, destination, outcome, injector.Injected);
                    if (injector.Injected && outcome.Timeline.Count > 0)
                    {
                        Tally.NoteFailureTime(hop, (long)(outcome.Timeline[^1].Elapsed - injector.ArmedAt - injector.FiredAfter).TotalMilliseconds, outcome.Error);
                    }
                }
                else if (destination.Qemu.HasExited)
                {
                    (result, keepGuest) = DestinationGoneAfterCompletion(hop, guest, destination, outcome, injector.Injected && fault == SoakFault.Kill);
                }
                else
                {
                    (result, keepGuest) = Completed(hop, guest, destination, outcome, injector.Injected);
                    if (keepGuest)
                    {
                        destination = null; // the guest lives there now
                    }
                }
            }
            catch (Exception e)
            {
                // QEMU refused a command, a QEMU died, a memory dump failed: whatever state the guest is in, it is retired.
                injector?.Disarm();
                hop.Fault ??= injector?.Describe() ?? SoakFaultInjector.Name(fault);
                string error = $"{e.GetType().Name}: {e.Message}";
                if (hop.Classified)
                {
                    // The migration was counted; checking the guest afterwards failed, and the guest is lost.
                    Tally.GuestStopped++;
                    Problem(hop, "guest_stopped", $"checking the guest after the migration failed: {error}");
                    result = $"CHECK FAILED: {error}; guest {guest.Number} retired";
                }
                else
                {
                    Tally.FailedUnexpectedly++;
                    UnexpectedFailure(hop, source, destination, "exception", error);
                    result = $"FAILED UNEXPECTEDLY: {error}; guest {guest.Number} retired";
                }
                keepGuest = false;
            }
            finally
            {
                injector?.Dispose();
                destination?.Dispose();
            }

            if (keepGuest && --guest.MigrationsLeft <= 0)
            {
                keepGuest = false;
                result += $"; guest {guest.Number} retired after {guest.Hops} hop{(guest.Hops == 1 ? "" : "s")}";
            }
            if (!keepGuest)
            {
                guest.Machine.Dispose();
            }
            Console.Error.WriteLine(
                $"soak {hop.StartedAt:mm\\:ss} #{number,-4} guest {guest.Number,-3} hop {attempt,-3} {guest.Load.Name,-12} budget {ByteSize.Format(budget),-4} " +
                $"fault {hop.Fault,-22} {result} ({wall.Elapsed.TotalSeconds:0.0} s)");
            return keepGuest ? guest : null;
        }

        /// <summary>Both memories equal and whole, nothing left pinned, then the guest continues on the destination.</summary>
        private (string, bool) Completed(Hop hop, Guest guest, Machine destination, MigrationOutcome outcome, bool faulted)
        {
            Machine source = guest.Machine;
            var notes = new List<string>();
            byte[] before = source.Qemu.ReadMemory(); // both are paused now: the source after completion, the destination (-S) before cont
            byte[] after = destination.Qemu.ReadMemory();
            long first = GuestMemory.FirstDifference(before, after);
            int torn = GuestMemory.TornPages(after, guest.Load.Guest);
            if (first >= 0)
            {
                Tally.Corrupted++;
                Problem(hop, "corrupted", $"guest memory differs first at 0x{first:x} (source 0x{Word(before, first):x8}, destination 0x{Word(after, first):x8})");
                notes.Add($"MEMORY DIFFERS at 0x{first:x}");
            }
            else if (torn > 1)
            {
                Tally.Corrupted++;
                Problem(hop, "corrupted", $"{torn} pages torn on both sides (at most the one being written may be)");
                notes.Add($"{torn} PAGES TORN");
            }
            else
            {
                notes.Add("memory equal");
            }
            before = after = [];

            long sourceLocked = outcome.LockedAfterBytes;
            long destinationLocked = LiveMigration.WaitForUnlocked(destination.Qemu.Pid, TimeSpan.FromSeconds(5));
            if (sourceLocked != 0 || destinationLocked != 0)
            {
                Tally.LeftPinned++;
                Problem(hop, "left_pinned", $"VmLck after the migration: source {sourceLocked} bytes, destination {destinationLocked} bytes");
                notes.Add($"VMLCK LEFT: source {sourceLocked}, destination {destinationLocked}");
            }

            destination.Qemu.Qmp.Execute("cont");
            bool working = destination.Qemu.GuestIsWorking(GuestCheckWithin);
            Tally.Completed++;
            hop.Classified = true;
            if (faulted)
            {
                Tally.CompletedDespiteFault++;
            }
            string completed = $"completed in {outcome.TotalMs} ms (downtime {outcome.DowntimeMs} ms, peak VmLck {ByteSize.FormatApproximate(outcome.PeakLockedBytes)})";
            if (!working)
            {
                Tally.GuestStopped++;
                Problem(hop, "guest_stopped", $"after cont on the destination the guest does not run: {destination.Qemu.RunState}");
                return ($"{completed}; {string.Join(", ", notes)}; GUEST NOT RUNNING after cont; guest {guest.Number} retired", false);
            }
            source.Dispose();
            guest.Machine = destination;
            guest.Hops++;
            return ($"{completed}; {string.Join(", ", notes)}", true);
        }

        /// <summary>A failed or cancelled migration: the source guest must run on, with nothing pinned.</summary>
        private (string, bool) Failed(Hop hop, Guest guest, Machine destination, MigrationOutcome outcome, bool faulted)
        {
            string error = outcome.Error ?? "no error given";
            long endedMs = outcome.Timeline.Count > 0 ? (long)outcome.Timeline[^1].Elapsed.TotalMilliseconds : 0;
            string result;
            if (faulted)
            {
                Tally.FailedAsInjected++;
                hop.Classified = true;
                result = $"{outcome.Status} as injected, {endedMs} ms after migrate{(outcome.Error is null ? "" : $" ({error})")}";
            }
            else
            {
                Tally.FailedUnexpectedly++;
                hop.Classified = true;
                UnexpectedFailure(hop, guest.Machine, destination, outcome.Status, error);
                result = $"{outcome.Status.ToUpperInvariant()} UNEXPECTEDLY, {endedMs} ms after migrate: {error}";
            }
            destination.Qemu.Kill(); // an incoming migration that failed ends its QEMU anyway
            return SourceRecovered(hop, guest, outcome.LockedAfterBytes, result);
        }

        /// <summary>The migration completed, but the destination has exited: killed just then, or crashed. The guest resumes on the source.</summary>
        private (string, bool) DestinationGoneAfterCompletion(Hop hop, Guest guest, Machine destination, MigrationOutcome outcome, bool killed)
        {
            string result;
            if (killed)
            {
                Tally.FailedAsInjected++;
                hop.Classified = true;
                result = "completed, but the destination was killed just then: resumed on the source";
            }
            else
            {
                Tally.FailedUnexpectedly++;
                hop.Classified = true;
                UnexpectedFailure(hop, guest.Machine, destination, "destination exited",
                    "the destination QEMU exited after the migration completed");
                result = "COMPLETED, BUT THE DESTINATION EXITED: resumed on the source";
            }
            guest.Machine.Qemu.Qmp.Execute("cont"); // out of postmigrate, as libvirt resumes a source whose destination failed
            return SourceRecovered(hop, guest, outcome.LockedAfterBytes, result);
        }

        /// <summary>Still not ended at the timeout: cancelled, counted as an unexpected failure, and the source checked.</summary>
        private (string, bool) Unfinished(Hop hop, Guest guest, Machine destination, MigrationOutcome outcome)
        {
            Machine source = guest.Machine;
            source.Qemu.Qmp.Execute("migrate_cancel");
            var clock = Stopwatch.StartNew();
            string status;
            while ((status = (string)source.Qemu.Qmp.Execute("query-migrate")!["status"]!) is not ("completed" or "failed" or "cancelled") &&
                   clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(50);
            }
            string error = $"still {outcome.Status} after {MigrationTimeout.TotalSeconds:0} s (then migrate_cancel: {status})";
            Tally.FailedUnexpectedly++;
            hop.Classified = true;
            UnexpectedFailure(hop, source, destination, outcome.Status, error);
            destination.Qemu.Kill();
            if (status == "completed")
            {
                source.Qemu.Qmp.Execute("cont");
            }
            else if (status is not ("failed" or "cancelled"))
            {
                return ($"TIMED OUT: {error}; guest {guest.Number} retired", false);
            }
            return SourceRecovered(hop, guest, LiveMigration.WaitForUnlocked(source.Qemu.Pid, TimeSpan.FromSeconds(5)), $"TIMED OUT: {error}");
        }

        /// <summary>After a migration that did not move the guest: it runs on the source, whose VmLck is back to 0.</summary>
        private (string, bool) SourceRecovered(Hop hop, Guest guest, long lockedAfter, string result)
        {
            QemuMachine source = guest.Machine.Qemu;
            var notes = new List<string> { result };
            bool keep = true;
            if (source.HasExited)
            {
                Tally.GuestStopped++;
                Problem(hop, "guest_stopped", $"the source QEMU exited: {Tail(source.LogText, hop.SourceLogStart)}");
                return ($"{result}; SOURCE QEMU EXITED; guest {guest.Number} lost", false);
            }
            if (source.GuestIsWorking(GuestCheckWithin))
            {
                notes.Add("source guest running");
            }
            else
            {
                Tally.GuestStopped++;
                string state = source.RunState;
                source.Qmp.Execute("cont");
                keep = source.GuestIsWorking(GuestCheckWithin);
                Problem(hop, "guest_stopped", $"after the migration the source guest did not run (state {state}); after cont it {(keep ? "ran" : "still did not")}");
                notes.Add($"SOURCE GUEST NOT RUNNING ({state}){(keep ? ", running after cont" : $"; guest {guest.Number} retired")}");
            }
            if (lockedAfter != 0)
            {
                long later = LiveMigration.WaitForUnlocked(source.Pid, UnlockWithin);
                Tally.LeftPinned++;
                Problem(hop, "left_pinned", $"the source's VmLck was {lockedAfter} bytes 5 s after the migration ended, {later} bytes {UnlockWithin.TotalSeconds:0} s later");
                notes.Add($"VMLCK LEFT {lockedAfter} bytes");
            }
            else
            {
                notes.Add("VmLck 0");
            }
            return (string.Join("; ", notes), keep);
        }

        private void UnexpectedFailure(Hop hop, Machine source, Machine? destination, string status, string error) =>
            Tally.UnexpectedFailures.Add(new JsonObject
            {
                ["migration"] = hop.Number,
                ["guest"] = hop.Guest,
                ["load"] = hop.Load,
                ["budget_bytes"] = hop.Budget,
                ["fault"] = hop.Fault,
                ["status"] = status,
                ["error"] = error,
                ["source_log"] = Tail(source.Qemu.LogText, hop.SourceLogStart),
                ["destination_log"] = destination is null ? null : Tail(destination.Qemu.LogText, 0),
            });

        private void Problem(Hop hop, string kind, string detail) =>
            Tally.Problems.Add(new JsonObject
            {
                ["migration"] = hop.Number,
                ["kind"] = kind,
                ["guest"] = hop.Guest,
                ["load"] = hop.Load,
                ["budget_bytes"] = hop.Budget,
                ["fault"] = hop.Fault,
                ["detail"] = detail,
            });

        /// <summary>The last lines a QEMU printed since <paramref name="start"/> (its plugin's messages among them).</summary>
        private static string Tail(string log, int start)
        {
            string[] lines = (start <= log.Length ? log[start..] : log).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join("\n", lines.TakeLast(12));
        }

        private static uint Word(byte[] memory, long offset) =>
            offset + 4 <= memory.Length ? BitConverter.ToUInt32(memory, (int)(offset & ~3L)) : 0;
    }

    /// <summary>What the records of one migration say about it.</summary>
    private sealed class Hop(int number, Guest guest, long budget, TimeSpan startedAt, int sourceLogStart)
    {
        public int Number { get; } = number;
        public int Guest { get; } = guest.Number;
        public string Load { get; } = guest.Load.Name;
        public long Budget { get; } = budget;
        public TimeSpan StartedAt { get; } = startedAt;
        public int SourceLogStart { get; } = sourceLogStart;
        public string? Fault { get; set; }

        /// <summary>Counted as completed, failed as injected, or failed unexpectedly (exactly one of them).</summary>
        public bool Classified { get; set; }
    }
}
