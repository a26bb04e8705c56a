using RdmaCs.Designation;
using RdmaCs.Registration;

namespace RdmaCs.Selection;

/// <summary>A run of designated pages the selector proposes to write next.</summary>
/// <param name="RamBlock">Index of the RAM block.</param>
/// <param name="FirstPage">First page of the run; designated.</param>
/// <param name="Pages">Designated pages from <paramref name="FirstPage"/> on, within one chunk and one registration.</param>
/// <param name="Covering">The live registration that already contains the run, if any (no new pinning needed).</param>
/// <param name="Limit">Where a write from <paramref name="FirstPage"/> must end at the latest (exclusive): the chunk's end,
/// the next live registration's start, or the covering registration's end.</param>
internal readonly record struct Candidate(int RamBlock, long FirstPage, int Pages, RegisteredRun? Covering, long Limit);

/// <summary>
/// Picks what to write next, asynchronously to designation: first designated pages inside recently used
/// idle registrations (no new pinning), then, round-robin over all RAM blocks, the next designated run,
/// coalescing adjacent pages up to the chunk (max block) boundary. During a flush it sweeps every RAM block
/// once from the start instead, so that everything designated before the flush is seen. Worker thread only.
/// </summary>
internal sealed class BlockSelector(DesignationBitmap[] bitmaps, Registrar registrar, int pagesPerChunk)
{
    /// <summary>How many of the most recently used idle registrations are searched for designated pages.</summary>
    private const int CachedRegistrationsSearched = 32;

    private int _block;   // cursor: RAM block
    private long _page;   // cursor: next page to look at in that block
    private bool _sweeping;

    /// <summary>Starts a sweep: from now on the cursor runs once from the first page of the first block to the end.</summary>
    public void BeginSweep()
    {
        _sweeping = true;
        _block = 0;
        _page = 0;
    }

    /// <summary>Ends a sweep; selection goes back to round-robin with cache preference.</summary>
    public void EndSweep() => _sweeping = false;

    /// <summary>
    /// Proposes the next run to write. False when nothing is designated (outside a sweep) or when the sweep has
    /// passed the last page.
    /// </summary>
    public bool TrySelect(out Candidate candidate)
    {
        if (!_sweeping && TrySelectInCachedRegistration(out candidate))
        {
            return true;
        }

        // Outside a sweep, one extra turn revisits the start of the cursor's own block (wrap-around).
        int turns = _sweeping ? bitmaps.Length - _block : bitmaps.Length + 1;
        for (int turn = 0; turn < turns; turn++)
        {
            long found = bitmaps[_block].FindNext(_page, bitmaps[_block].PageCount);
            if (found >= 0)
            {
                candidate = CandidateAt(_block, found);
                return true;
            }
            if (_sweeping && _block == bitmaps.Length - 1)
            {
                _page = bitmaps[_block].PageCount;
                break;
            }
            _block = (_block + 1) % bitmaps.Length;
            _page = 0;
        }
        candidate = default;
        return false;
    }

    /// <summary>Records that <paramref name="pagesTaken"/> pages of <paramref name="candidate"/> were written.</summary>
    public void Advance(in Candidate candidate, int pagesTaken)
    {
        if (candidate.RamBlock == _block && candidate.FirstPage >= _page)
        {
            _page = candidate.FirstPage + pagesTaken;
        }
    }

    private bool TrySelectInCachedRegistration(out Candidate candidate)
    {
        int searched = 0;
        for (LinkedListNode<RegisteredRun>? node = registrar.Idle.Last;
             node is not null && searched < CachedRegistrationsSearched;
             node = node.Previous, searched++)
        {
            RegisteredRun registration = node.Value;
            DesignationBitmap bitmap = bitmaps[registration.RamBlock];
            long found = bitmap.FindNext(registration.FirstPage, registration.EndPage);
            if (found >= 0)
            {
                int pages = bitmap.CountRun(found, (int)(registration.EndPage - found));
                candidate = new Candidate(registration.RamBlock, found, pages, registration, registration.EndPage);
                return true;
            }
        }
        candidate = default;
        return false;
    }

    private Candidate CandidateAt(int block, long page)
    {
        DesignationBitmap bitmap = bitmaps[block];
        RegisteredRun? covering = registrar.FindCovering(block, page);
        long limit;
        if (covering is not null)
        {
            limit = covering.EndPage;
        }
        else
        {
            long chunkEnd = Math.Min((page / pagesPerChunk + 1) * pagesPerChunk, bitmap.PageCount);
            // A new registration must stop where a live one starts: live registrations never overlap.
            limit = registrar.NextRegisteredPage(block, page, chunkEnd);
        }
        return new Candidate(block, page, bitmap.CountRun(page, (int)(limit - page)), covering, limit);
    }
}
